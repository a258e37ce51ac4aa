package gateway

// setEchoID gives p's echo requests the identifier id (mod 2^16), before
// run: each connection's prober gets its own, so that two probing one
// monitor (connections to one transit gateway) never count each other's
// replies.
func (p *prober) setEchoID(id int) { p.id = id & 0xffff }

// seqPartBits: the low bits of a probe's sequence number count, the bits
// above them say which of the probers sharing one echo identifier sent it
// (setEchoPart). 4096 numbers last 13 minutes at the default interval;
// the prober forgets a probe after 5 s.
const seqPartBits = 12

// setEchoPart gives p part n (0-15) of its echo identifier's sequence
// numbers, before run: a connection's probe (part 0) and its tunnels'
// path probes (part = the tunnel number) share one identifier, so that
// whatever a router hashes on (addresses, protocol, even the echo
// identifier as if it were a port), their replies take one way back, and
// each counts only the replies to its own requests.
func (p *prober) setEchoPart(n int) { p.part = n & 0xf }
