package bgp

import (
	"cmp"
	"slices"
)

// A candidate is one path to a prefix as the choice sees it.
type candidate struct {
	Tunnel    int
	MED       uint32 // 0 when the path has none
	ASPathLen int
}

// choose returns the index in cands of the path to use, by the rules in the
// package documentation: shortest AS path, lowest MED, the preferred
// tunnel, the lowest tunnel number. It returns -1 for no candidates.
func choose(cands []candidate, preferred int) int {
	best := -1
	for i, c := range cands {
		if best < 0 || better(c, cands[best], preferred) {
			best = i
		}
	}
	return best
}

// Why a route's best path won, in Route.Why.
const (
	WhyOnlyPath = "only-path" // learned over one tunnel only
	WhyASPath   = "as-path"   // shorter AS path than every other tunnel's
	WhyMED      = "med"       // same AS path length, lower MED
	WhyTie      = "tie"       // as good as another tunnel's: the preferred tunnel (or the lowest number) won
)

// why says how cands[best] won: strictly better than the best path over
// every other tunnel on AS path length then MED, or a tie.
func why(cands []candidate, best int) string {
	b := cands[best]
	reason := WhyOnlyPath
	for _, c := range cands {
		if c.Tunnel == b.Tunnel {
			continue
		}
		switch {
		case c.ASPathLen > b.ASPathLen:
			if reason == WhyOnlyPath {
				reason = WhyASPath
			}
		case c.ASPathLen == b.ASPathLen && c.MED > b.MED:
			if reason != WhyTie {
				reason = WhyMED
			}
		default:
			return WhyTie
		}
	}
	return reason
}

// better reports whether a is to be chosen over b.
func better(a, b candidate, preferred int) bool {
	if a.ASPathLen != b.ASPathLen {
		return a.ASPathLen < b.ASPathLen
	}
	if a.MED != b.MED {
		return a.MED < b.MED
	}
	if (a.Tunnel == preferred) != (b.Tunnel == preferred) {
		return a.Tunnel == preferred
	}
	return a.Tunnel < b.Tunnel
}

// sortedTunnels returns the distinct tunnels of cands in order.
func sortedTunnels(cands []candidate) []int {
	var ts []int
	for _, c := range cands {
		ts = append(ts, c.Tunnel)
	}
	slices.SortFunc(ts, cmp.Compare)
	return slices.Compact(ts)
}
