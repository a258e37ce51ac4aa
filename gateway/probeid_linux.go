package gateway

// setEchoID gives p's echo requests the identifier id (mod 2^16), before
// run: each connection's prober gets its own, so that two probing one
// monitor (connections to one transit gateway) never count each other's
// replies.
func (p *prober) setEchoID(id int) { p.id = id & 0xffff }
