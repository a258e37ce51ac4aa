package ike

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/strongswan/govici/vici"
)

// A section is an ordered swanctl/VICI section: the one description of a
// connection from which both the load-conn message and the rendered
// swanctl.conf come, so they cannot drift apart.
type section struct {
	items []item
}

// An item's val is a string, a []string or a *section.
type item struct {
	key string
	val any
}

func (s *section) set(key string, val any) { s.items = append(s.items, item{key, val}) }

// message converts s to a VICI message.
func (s *section) message() (*vici.Message, error) {
	m := vici.NewMessage()
	for _, it := range s.items {
		v := it.val
		if sub, ok := v.(*section); ok {
			sm, err := sub.message()
			if err != nil {
				return nil, err
			}
			v = sm
		}
		if err := m.Set(it.key, v); err != nil {
			return nil, fmt.Errorf("key %s: %w", it.key, err)
		}
	}
	return m, nil
}

// connSection describes t's connection (the body of connections.<name>).
func (t Tunnel) connSection() *section {
	c := &section{}
	c.set("version", fmt.Sprint(t.version()))
	if t.LocalAddr.IsValid() {
		c.set("local_addrs", []string{t.LocalAddr.String()})
	}
	c.set("remote_addrs", []string{t.RemoteAddr.String()})
	c.set("proposals", t.IKEProposals)
	c.set("rekey_time", seconds(t.IKERekey))
	if t.IKELife > t.IKERekey {
		c.set("over_time", seconds(t.IKELife-t.IKERekey))
	}
	c.set("rand_time", seconds(t.IKERand))
	c.set("dpd_delay", seconds(t.DPDDelay))
	if t.DPDTimeout > 0 && t.version() != 2 {
		c.set("dpd_timeout", seconds(t.DPDTimeout))
	}
	c.set("mobike", "no")
	c.set("encap", "yes")
	if t.AWSInitiates {
		c.set("unique", "never")
	} else {
		c.set("unique", "replace")
	}
	c.set("keyingtries", "1")

	local := &section{}
	local.set("auth", "psk")
	local.set("id", t.LocalID)
	c.set("local", local)
	remote := &section{}
	remote.set("auth", "psk")
	remote.set("id", t.RemoteID)
	c.set("remote", remote)

	children := &section{}
	children.set(t.Name, t.childSection(t.LocalTS, t.RemoteTS))
	if in := t.Inside; in != nil {
		children.set(in.Name, t.childSection([]netip.Prefix{in.Local}, []netip.Prefix{in.Remote}))
	}
	c.set("children", children)
	return c
}

// childSection describes one child of t's connection with the given
// traffic selectors; every child of t has the same proposals, lifetimes
// and actions.
func (t Tunnel) childSection(localTS, remoteTS []netip.Prefix) *section {
	child := &section{}
	child.set("local_ts", prefixes(localTS))
	child.set("remote_ts", prefixes(remoteTS))
	child.set("esp_proposals", t.ESPProposals)
	child.set("rekey_time", seconds(t.ChildRekey))
	child.set("life_time", seconds(max(t.ChildLife, t.ChildRekey)))
	child.set("rand_time", seconds(t.ChildRand))
	if t.ReplayWindow != 0 {
		child.set("replay_window", fmt.Sprint(t.ReplayWindow))
	}
	child.set("dpd_action", "clear")
	child.set("close_action", "none")
	child.set("start_action", "none")
	if t.IfID != 0 {
		child.set("if_id_in", fmt.Sprint(t.IfID))
		child.set("if_id_out", fmt.Sprint(t.IfID))
	}
	return child
}

// loadConnMessage is the VICI load-conn request for t.
func (t Tunnel) loadConnMessage() (*vici.Message, error) {
	s := &section{}
	s.set(t.Name, t.connSection())
	return s.message()
}

// loadSharedMessage is the VICI load-shared request for t. It holds the
// key: never log or print it.
func (t Tunnel) loadSharedMessage() (*vici.Message, error) {
	m := vici.NewMessage()
	for _, kv := range []struct {
		k string
		v any
	}{
		{"id", sharedID(t.Name)},
		{"type", "IKE"},
		{"data", string(t.PSK.Reveal())},
		{"owners", []string{t.LocalID, t.RemoteID}},
	} {
		if err := m.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("key %s: %w", kv.k, err)
		}
	}
	return m, nil
}

// sharedID is the unique id of a tunnel's key in charon: the name swanctl
// gives the key of Render's "ike-<name>" secrets section, so loading
// Render's output with swanctl replaces cgw's key instead of adding one.
func sharedID(name string) string { return "ike-" + name }

func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }

func prefixes(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return []string{"0.0.0.0/0"}
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Masked().String()
	}
	return out
}
