package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/cgw-project/cgw/routes"
)

// resyncRoutes is how often the loop re-applies an unchanged routes state,
// to repair whatever something else changed behind cgw's back.
const resyncRoutes = 10 * time.Second

// routing owns the routes.Manager for the loop.
type routing struct {
	m        *routes.Manager
	last     routes.State
	applied  time.Time
	source   netip.Addr
	warnings []string // what routes.Manager.Check found at the last apply
	log      *slog.Logger
}

// xfrmName is the XFRM interface of tunnel n in the kernel data plane.
func xfrmName(n int) string { return "cgw-xfrm" + strconv.Itoa(n) }

// openRouting creates the routes.Manager in the gateway's namespace.
func (g *Gateway) openRouting() (*routing, error) {
	ns, err := g.namespace()
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	m, err := routes.New(routes.Options{Netns: ns, Logger: g.log})
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	r := &routing{m: m, log: g.log}
	r.source = g.insideAddress(ns)
	if r.source.IsValid() {
		g.log.Info("routes use the gateway's inside address as source", "source", r.source)
	} else {
		g.log.Warn("no address of the gateway lies in local_networks; routes get no source address")
	}
	return r, nil
}

// namespace returns a handle of the namespace cgw works in: the one it was
// started in, or the one a test set.
func (g *Gateway) namespace() (netns.NsHandle, error) {
	if g.netnsPath != "" {
		return netns.GetFromPath(g.netnsPath)
	}
	return netns.Get()
}

// insideAddress finds the gateway's own address inside local_networks,
// preferring the configured inside interface.
func (g *Gateway) insideAddress(ns netns.NsHandle) netip.Addr {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netip.Addr{}
	}
	defer h.Close()
	var link netlink.Link
	if g.cfg.Interfaces.Inside != "" {
		link, _ = h.LinkByName(g.cfg.Interfaces.Inside)
	}
	addrs, err := h.AddrList(link, familyV4)
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		if slices.ContainsFunc(g.cfg.LocalNetworks, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return ip
		}
	}
	return netip.Addr{}
}

// desiredRoutes is the routes state for the loop's view: the remote
// networks (with BGP, the learned prefixes) via the active tunnel.
func (g *Gateway) desiredRoutes(active int, source netip.Addr) routes.State {
	st := routes.State{
		Mode:   routes.ModeLibipsec,
		Remote: g.cfg.RemoteNetworks,
		Local:  g.cfg.LocalNetworks,
		Source: source,
	}
	if g.dataplane == DataplaneKernel {
		st.Mode = routes.ModeKernel
	}
	for _, t := range g.tunnels {
		rt := routes.Tunnel{Name: t.spec.Name, Up: t.sa != nil && saUp(t.sa, t.spec.Name)}
		if st.Mode == routes.ModeKernel {
			rt.IfName = xfrmName(t.number)
			rt.IfID = t.spec.IfID
			rt.Inside = t.inside
			rt.MTU, _ = t.mtuMSS()
		}
		st.Tunnels = append(st.Tunnels, rt)
		if t.number == active {
			st.Active = t.spec.Name
			_, st.MSS = t.mtuMSS()
		}
	}
	g.bgpRoutes(&st)
	return st
}

// apply hands st to the Manager when it changed, or every resyncRoutes.
func (r *routing) apply(ctx context.Context, st routes.State, now time.Time) error {
	if reflect.DeepEqual(st, r.last) && now.Sub(r.applied) < resyncRoutes {
		return nil
	}
	// Before repairing, look for something outside cgw fighting its
	// settings (forwarding switched off, a strict rp_filter, a more
	// specific foreign route, a rule that takes the traffic first): it
	// shows in status until the next look and, once, in the log.
	var ws []string
	if !r.applied.IsZero() {
		for _, w := range r.m.Check(ctx) {
			ws = append(ws, w.String())
		}
	}
	for _, w := range ws {
		if !slices.Contains(r.warnings, w) {
			r.log.Warn("something outside cgw fights its routing; repairing", "warning", w)
		}
	}
	r.warnings = ws
	if err := r.m.Set(ctx, st); err != nil {
		return err
	}
	r.last, r.applied = st, now
	return nil
}

// mtuMSS gives the tunnel's MTU and TCP MSS from AWS's table for the
// negotiated algorithms (NAT-T is always on), else the file's values, else
// the most conservative row of the table.
func (t *tunnel) mtuMSS() (int, int) {
	if sa := t.sa; sa != nil {
		for _, c := range sa.Children {
			if c.Name == t.spec.Name && c.State == "INSTALLED" {
				return routes.MSSFor(awsEncryption(c.EncrAlg), awsIntegrity(c.IntegAlg), true)
			}
		}
	}
	if t.fileMTU > 0 && t.fileMSS > 0 {
		return t.fileMTU, t.fileMSS
	}
	return routes.MSSFor("", "", true)
}

// awsEncryption maps charon's "AES_CBC-256" / "AES_GCM_16-128" to AWS's names.
func awsEncryption(s string) string {
	s = strings.ToUpper(s)
	bits := "128"
	if strings.HasSuffix(s, "256") {
		bits = "256"
	}
	if strings.Contains(s, "GCM") {
		return "AES" + bits + "-GCM-16"
	}
	return "AES" + bits
}

// awsIntegrity maps charon's "HMAC_SHA2_256_128" to AWS's "SHA2-256".
func awsIntegrity(s string) string {
	s = strings.ToUpper(s)
	switch {
	case strings.Contains(s, "SHA2_512"):
		return "SHA2-512"
	case strings.Contains(s, "SHA2_384"):
		return "SHA2-384"
	case strings.Contains(s, "SHA2_256"):
		return "SHA2-256"
	case strings.Contains(s, "SHA1"):
		return "SHA1"
	}
	return ""
}
