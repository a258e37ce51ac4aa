package bgp

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPlanSteer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce []netip.Prefix
		limit    int
		want     Steering
	}{
		{"one /20", prefixes("172.31.16.0/20"), 100,
			Steering{Prefixes: prefixes("172.31.16.0/21", "172.31.24.0/21")}},
		{"a /31 and a /32", prefixes("192.0.2.10/31", "192.0.2.1/32"), 100,
			Steering{Prefixes: prefixes("192.0.2.10/32", "192.0.2.11/32"), HostRoutes: prefixes("192.0.2.1/32")}},
		{"a /0 splits into the two halves of the space", prefixes("0.0.0.0/0"), 100,
			Steering{Prefixes: prefixes("0.0.0.0/1", "128.0.0.0/1")}},
		{"the budget leaves the last whole", prefixes("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"), 7,
			Steering{Prefixes: prefixes("10.1.0.0/17", "10.1.128.0/17", "10.2.0.0/17", "10.2.128.0/17"), OverBudget: prefixes("10.3.0.0/16")}},
		{"already at the limit", prefixes("10.1.0.0/16"), 1, Steering{OverBudget: prefixes("10.1.0.0/16")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planSteer(tc.announce, tc.limit)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := got.Announced(len(tc.announce)); n > tc.limit && len(got.Prefixes) > 0 {
				t.Errorf("the steered session would carry %d prefixes, above the limit %d", n, tc.limit)
			}
			for i := 0; i+1 < len(got.Prefixes); i += 2 {
				lo, hi := got.Prefixes[i], got.Prefixes[i+1]
				parent := netip.PrefixFrom(lo.Addr(), lo.Bits()-1).Masked()
				if lo.Bits() != hi.Bits() || !parent.Contains(hi.Addr()) || lo.Addr() == hi.Addr() || lo != lo.Masked() || hi != hi.Masked() {
					t.Errorf("%v and %v are not the two halves of one prefix", lo, hi)
				}
			}
		})
	}
}

// TestPlanSteerBudget: 60 local networks against AWS's 100: 20 are split
// (60 + 40 = 100), 40 stay whole, and the session never carries more than
// 100.
func TestPlanSteerBudget(t *testing.T) {
	var announce []netip.Prefix
	for i := range 60 {
		announce = append(announce, netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i)))
	}
	st := planSteer(announce, AWSMaxPrefixes)
	if len(st.Prefixes) != 40 || len(st.OverBudget) != 40 || st.Announced(len(announce)) != 100 {
		t.Errorf("60 networks: %d more-specifics, %d over budget, %d announced; want 40, 40, 100",
			len(st.Prefixes), len(st.OverBudget), st.Announced(len(announce)))
	}
}
