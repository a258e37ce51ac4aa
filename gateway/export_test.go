package gateway

// SetNetns makes g work in the network namespace at path (routes, probes)
// instead of the test process's own, so tests can run a Gateway against a
// lab without touching the host's namespace.
func SetNetns(g *Gateway, path string) { g.netnsPath = path }
