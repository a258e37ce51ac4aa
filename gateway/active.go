package gateway

import "time"

// chooseActive decides which tunnel carries traffic (g.active) and why.
//
// libipsec: both CHILD SAs share one reqid and charon sends on the most
// recently installed one, so the active tunnel is observed, not chosen:
// the up tunnel whose CHILD SA is newest. Failover changes it by rekeying
// the survivor (see failover).
//
// kernel: routes choose. The current active tunnel stays while it is up;
// otherwise the lowest-numbered up tunnel takes over.
func (g *Gateway) chooseActive() {
	prev := g.active
	g.active, g.activeReason = 0, "no tunnel is up"
	switch g.dataplane {
	case DataplaneLibIPsec:
		newest := time.Duration(-1)
		for _, t := range g.tunnels {
			if t.sa == nil || !saUp(t.sa, t.spec.Name) {
				continue
			}
			for _, c := range t.sa.Children {
				if c.Name == t.spec.Name && c.State == "INSTALLED" && (newest < 0 || c.InstallTime < newest) {
					newest, g.active = c.InstallTime, t.number
				}
			}
		}
		if g.active != 0 {
			g.activeReason = "newest CHILD SA: libipsec sends on the most recently installed SA"
		}
	default:
		for _, t := range g.tunnels {
			if t.number == prev && t.sa != nil && saUp(t.sa, t.spec.Name) {
				g.active, g.activeReason = prev, "route via its XFRM interface; it is up"
				return
			}
		}
		for _, t := range g.tunnels {
			if t.sa != nil && saUp(t.sa, t.spec.Name) {
				g.active, g.activeReason = t.number, "route via its XFRM interface; first tunnel up"
				break
			}
		}
	}
	if g.active != prev {
		g.log.Info("traffic moves", "from_tunnel", prev, "to_tunnel", g.active, "why", g.activeReason)
	}
}
