package gateway

import "time"

// SetNetns makes g work in the network namespace at path (routes, probes)
// instead of the test process's own, so tests can run a Gateway against a
// lab without touching the host's namespace.
func SetNetns(g *Gateway, path string) { g.netnsPath = path }

// SetHoldTime shortens how long a recovered preferred tunnel must be up
// before traffic moves back to it.
func SetHoldTime(g *Gateway, d time.Duration) {
	for _, cn := range g.conns {
		cn.fo.hold = d
	}
}
