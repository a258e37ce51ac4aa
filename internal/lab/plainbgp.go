package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// The plain initiator's BGP speaker (`cgwlab initiate --bgp-speaker`): an
// FRR bgpd in the cgw namespace standing in for cgw's own speaker, so a lab
// with BGP can be checked end to end without cgw, on every tunnel of every
// connection. It is AS 65000 (router ID the first customer inside
// address), peers with the AWS inside address of each tunnel from the
// customer's (over the bgp<N> CHILD_SAs with libipsec, the plain-xfrmN
// interfaces in kernel mode), accepts everything, and announces the
// on-prem network with equal attributes on every tunnel: through
// route-map OUT<N>, empty, so a test can prepend or set a MED on one
// tunnel. On a transit gateway that makes every tunnel part of the ECMP
// set. Its files are in <dir>/cgw/frr; PlainReset and Down stop it.

func (l *Lab) plainBGPDir() string { return filepath.Join(l.dir, string(CGW), "frr") }

// plainBGPDConfig is the plain speaker's bgpd.conf for the tunnels ts.
func plainBGPDConfig(ts []tunnel) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! written by cgwlab: the plain initiator's BGP speaker (AS %d), the same announcement on every tunnel", CustomerASN)
	w("frr defaults traditional")
	w("ip prefix-list ANY seq 5 permit 0.0.0.0/0 le 32")
	w("route-map IN permit 10")
	w(" match ip address prefix-list ANY")
	for _, t := range ts {
		w("route-map OUT%d permit 10", t.Number)
	}
	_, c1 := tunnelInside(ts[0])
	w("router bgp %d", CustomerASN)
	w(" bgp router-id %s", c1)
	w(" bgp log-neighbor-changes")
	w(" no bgp network import-check")
	w(" timers bgp 10 30")
	for _, t := range ts {
		a, c := tunnelInside(t)
		w(" neighbor %s remote-as %d", a, AWSASN)
		w(" neighbor %s description tunnel%d", a, t.Number)
		w(" neighbor %s update-source %s", a, c)
		w(" neighbor %s disable-connected-check", a)
		w(" neighbor %s timers connect 1", a)
	}
	w(" address-family ipv4 unicast")
	w("  network %s", OnPremNetwork)
	for _, t := range ts {
		a, _ := tunnelInside(t)
		w("  neighbor %s route-map IN in", a)
		w("  neighbor %s route-map OUT%d out", a, t.Number)
	}
	w(" exit-address-family")
	return b.String()
}

// StartPlainBGP starts the plain initiator's BGP speaker in the cgw
// namespace (after PlainInitiate, in a lab with BGP), or returns the one
// that runs.
func (l *Lab) StartPlainBGP(ctx context.Context) (*BGPD, error) {
	if !l.BGP() {
		return nil, fmt.Errorf("plain BGP speaker: lab %q was not brought up with BGP (cgwlab up --bgp)", l.name)
	}
	if b, err := AttachBGPD(l.Namespace(CGW), l.plainBGPDir()); err == nil {
		return b, nil
	}
	l.mu.Lock()
	ts := l.st.Tunnels
	l.mu.Unlock()
	l.log("starting the plain initiator's bgpd (AS %d) in %s on %d tunnel(s)", CustomerASN, l.Namespace(CGW), len(ts))
	b, err := StartBGPD(ctx, l.Namespace(CGW), l.plainBGPDir(), plainBGPDConfig(ts))
	if err != nil {
		return nil, fmt.Errorf("plain BGP speaker: %w", err)
	}
	return b, nil
}

// stopPlainBGP stops the plain initiator's BGP speaker, if it runs.
func (l *Lab) stopPlainBGP() {
	if b, err := AttachBGPD(l.Namespace(CGW), l.plainBGPDir()); err == nil {
		b.Stop()
	}
}
