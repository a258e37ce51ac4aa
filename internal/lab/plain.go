package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strongswan/govici/vici"
)

// plainProposals are what the plain initiator proposes: the lab's own
// proposals when they were given, else one well inside AWS's set.
func (l *Lab) plainProposals() (ike, esp []string) {
	ike, esp = l.st.Proposals, l.st.ESPProposals
	if slices.Equal(ike, DefaultProposals()) {
		ike = []string{"aes128-sha256-modp2048"}
	}
	if slices.Equal(esp, DefaultESPProposals()) {
		esp = []string{"aes128-sha256-modp2048"}
	}
	return ike, esp
}

// plainConn builds the plain initiator's load-conn message for t: what cgw
// would load (IKE identity the Elastic IP, 172.31.16.0/20 ===
// 10.10.100.0/24; in kernel mode 0.0.0.0/0 both ways with if_id_in/out =
// the tunnel number, as cgw's kernel mode does), with no start action and
// DPD action clear so nothing happens behind a test's back.
func (l *Lab) plainConn(t tunnel) *vici.Message {
	ike, esp := l.plainProposals()
	local := vici.NewMessage()
	_ = local.Set("auth", "psk")
	_ = local.Set("id", ElasticIP)
	remote := vici.NewMessage()
	_ = remote.Set("auth", "psk")
	_ = remote.Set("id", t.AWSOutside)
	child := vici.NewMessage()
	if l.st.kernel() {
		_ = child.Set("local_ts", []string{"0.0.0.0/0"})
		_ = child.Set("remote_ts", []string{"0.0.0.0/0"})
		_ = child.Set("if_id_in", fmt.Sprint(t.Number))
		_ = child.Set("if_id_out", fmt.Sprint(t.Number))
	} else {
		_ = child.Set("local_ts", []string{OnPremNetwork})
		_ = child.Set("remote_ts", []string{l.st.vpcNetworkOf(t.conn())})
	}
	_ = child.Set("esp_proposals", esp)
	_ = child.Set("dpd_action", "clear")
	_ = child.Set("start_action", "none")
	children := vici.NewMessage()
	_ = children.Set(t.name(), child)
	l.plainBGPChild(children, t, esp)
	c := vici.NewMessage()
	_ = c.Set("version", fmt.Sprint(l.st.IKEVersion))
	_ = c.Set("local_addrs", []string{CGWOutside})
	_ = c.Set("remote_addrs", []string{t.AWSOutside})
	_ = c.Set("proposals", ike)
	_ = c.Set("dpd_delay", "10s")
	_ = c.Set("mobike", "no")
	_ = c.Set("local", local)
	_ = c.Set("remote", remote)
	_ = c.Set("children", children)
	m := vici.NewMessage()
	_ = m.Set(t.name(), c)
	return m
}

// PlainInitiate loads a hand-written configuration equivalent to what cgw
// would load into the cgw-side charon (keys via load-shared, one connection
// per tunnel named tunnel1/tunnel2) and initiates every tunnel, returning
// once each CHILD_SA is installed or the first fails. It stands in for cgw
// in tests, the demo's pre-cgw check and benchmarks. With BGP it also
// adds and initiates bgp1/bgp2 (see plainBGPChild). In kernel mode it also
// creates XFRM interfaces plain-xfrm1/2 (if_id 1/2) in the cgw namespace,
// with BGP the customer inside /30s on them instead of bgp children, and
// routes the VPC through plain-xfrm1; PlainReset removes them.
func (l *Lab) PlainInitiate(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, len(l.st.Tunnels))
	for i, t := range l.st.Tunnels {
		keys[i] = t.PSK
	}
	return l.plainInitiate(ctx, keys)
}

// plainInitiate is PlainInitiate with the keys given (tests pass wrong
// ones); l.mu is held.
func (l *Lab) plainInitiate(ctx context.Context, keys []string) error {
	s, err := dialVICI(ctx, l.VICISocket(CGW))
	if err != nil {
		return fmt.Errorf("plain initiator: %w", err)
	}
	defer s.Close()
	l.st.Plain = true
	if err := l.save(); err != nil {
		return err
	}
	if l.st.kernel() {
		if err := l.removePlainLinks(ctx); err != nil { // a second PlainInitiate
			return err
		}
		if err := l.plainLinks(ctx); err != nil {
			return err
		}
	}
	if err := l.plainBGPAddrs(ctx, true); err != nil {
		return err
	}
	for i, t := range l.st.Tunnels {
		if _, err := s.Call(ctx, "load-shared", sharedKey("plain-"+t.name(), keys[i], ElasticIP, t.AWSOutside)); err != nil {
			return fmt.Errorf("plain initiator: load-shared %s: %w", t.name(), err)
		}
		if _, err := s.Call(ctx, "load-conn", l.plainConn(t)); err != nil {
			return fmt.Errorf("plain initiator: load-conn %s: %w", t.name(), err)
		}
	}
	for _, t := range l.st.Tunnels {
		m := vici.NewMessage()
		_ = m.Set("child", t.name())
		_ = m.Set("ike", t.name())
		_ = m.Set("timeout", "10000")
		// A deadline on the call: without one govici gives up reading
		// after 5 s, which a slow machine (a VM under TCG) can exceed.
		ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := s.Call(ictx, "initiate", m)
		cancel()
		if err != nil {
			return fmt.Errorf("plain initiator: initiate %s: %w", t.name(), err)
		}
		l.log("plain initiator: %s up", t.name())
		if err := l.initiatePlainBGP(ctx, s, t); err != nil {
			return err
		}
	}
	return nil
}

// PlainReset terminates the plain initiator's SAs and unloads its
// connections and keys from the cgw-side charon. Safe when nothing is
// loaded.
func (l *Lab) PlainReset(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := dialVICI(ctx, l.VICISocket(CGW))
	if err != nil {
		return fmt.Errorf("plain initiator reset: %w", err)
	}
	defer s.Close()
	l.stopPlainBGP() // plainbgp.go
	var errs []error
	for _, t := range l.st.Tunnels {
		m := vici.NewMessage()
		_ = m.Set("ike", t.name())
		_ = m.Set("timeout", "5000")
		_, _ = s.Call(ctx, "terminate", m) // fails when there is no SA
		if !l.st.Plain {
			continue
		}
		u := vici.NewMessage()
		_ = u.Set("name", t.name())
		if _, err := s.Call(ctx, "unload-conn", u); err != nil {
			errs = append(errs, fmt.Errorf("unload-conn %s: %w", t.name(), err))
		}
		k := vici.NewMessage()
		_ = k.Set("id", "plain-"+t.name())
		if _, err := s.Call(ctx, "unload-shared", k); err != nil {
			errs = append(errs, fmt.Errorf("unload-shared %s: %w", t.name(), err))
		}
	}
	if l.st.kernel() {
		if err := l.removePlainLinks(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.plainBGPAddrs(ctx, false); err != nil {
		errs = append(errs, err)
	}
	l.st.Plain = false
	if err := l.save(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("plain initiator reset: %w", err)
	}
	return nil
}
