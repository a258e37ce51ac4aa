package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// BGPDPeer is one neighbour in a bgpd configuration: Tunnel numbers its
// route-map OUT<Tunnel>, Local is the address the session runs from.
type BGPDPeer struct {
	Tunnel          int
	Local, Neighbor netip.Addr
	ASN             uint32 // the neighbour's
}

// AWSMaxPrefixes is AWS's limit on the prefixes a customer gateway
// announces over one BGP session.
const AWSMaxPrefixes = 100

// AWSBGPDConfig renders a bgpd.conf that behaves like AWS's side of a VPN
// connection's BGP sessions: ASN asn, router ID the first peer's local
// address, keepalive 10 s and hold 30 s, connect retry 5 s, the networks
// announced, every received prefix accepted (route-map IN), and per
// neighbour a route-map OUT<tunnel> that passes only locally originated
// paths (an empty AS path), so nothing learned on one tunnel goes out on
// the other. MEDs (by tunnel) set a metric in OUT<tunnel>. Like a virtual
// private gateway, which sends over one tunnel and has no ECMP, it uses
// one best path (maximum-paths 1): of two equal paths the older stays.
//
// FRR 8.4 needs route-maps for eBGP ("traditional" defaults have
// ebgp-requires-policy) and, without zebra, `no bgp network import-check`
// and an explicit router ID (notes/bgp-over-libipsec.md).
func AWSBGPDConfig(asn uint32, peers []BGPDPeer, networks []netip.Prefix, meds map[int]uint32) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! written by cgwlab: the AWS side's BGP (AS %d)", asn)
	w("frr defaults traditional")
	w("ip prefix-list ACCEPT seq 5 permit 0.0.0.0/0 le 32")
	w("route-map IN permit 10")
	w(" match ip address prefix-list ACCEPT")
	w("bgp as-path access-list LOCAL seq 5 permit ^$")
	for _, p := range peers {
		w("route-map OUT%d permit 10", p.Tunnel)
		w(" match as-path LOCAL")
		if m, ok := meds[p.Tunnel]; ok {
			w(" set metric %d", m)
		}
	}
	w("router bgp %d", asn)
	if len(peers) > 0 {
		w(" bgp router-id %s", peers[0].Local)
	}
	w(" bgp log-neighbor-changes")
	w(" no bgp network import-check")
	w(" timers bgp 10 30")
	for _, p := range peers {
		w(" neighbor %s remote-as %d", p.Neighbor, p.ASN)
		w(" neighbor %s description tunnel%d", p.Neighbor, p.Tunnel)
		w(" neighbor %s update-source %s", p.Neighbor, p.Local)
		w(" neighbor %s disable-connected-check", p.Neighbor)
		w(" neighbor %s timers 10 30", p.Neighbor)
		w(" neighbor %s timers connect 5", p.Neighbor)
	}
	w(" address-family ipv4 unicast")
	w("  maximum-paths 1")
	for _, n := range networks {
		w("  network %s", n)
	}
	for _, p := range peers {
		w("  neighbor %s route-map IN in", p.Neighbor)
		w("  neighbor %s route-map OUT%d out", p.Neighbor, p.Tunnel)
		// AWS accepts at most 100 prefixes from a customer per session;
		// the 101st ends it with a NOTIFICATION (Cease, maximum number of
		// prefixes reached). FRR retries after a minute.
		w("  neighbor %s maximum-prefix %d restart 1", p.Neighbor, AWSMaxPrefixes)
	}
	w(" exit-address-family")
	return b.String()
}

// Announce adds `network prefix` to the bgpd's `router bgp asn`.
func (b *BGPD) Announce(ctx context.Context, asn uint32, prefix netip.Prefix) error {
	return b.network(ctx, asn, prefix, "")
}

// Withdraw removes `network prefix` from the bgpd's `router bgp asn`.
func (b *BGPD) Withdraw(ctx context.Context, asn uint32, prefix netip.Prefix) error {
	return b.network(ctx, asn, prefix, "no ")
}

func (b *BGPD) network(ctx context.Context, asn uint32, prefix netip.Prefix, no string) error {
	if !prefix.IsValid() || !prefix.Addr().Is4() || prefix.Masked() != prefix {
		return fmt.Errorf("prefix %v: want an IPv4 network prefix like 10.10.200.0/24", prefix)
	}
	return b.Configure(ctx, "router bgp "+strconv.FormatUint(uint64(asn), 10), "address-family ipv4 unicast",
		no+"network "+prefix.String())
}

// SetMED sets the MED the bgpd sends to neighbor (route-map OUT<tunnel>,
// as written by AWSBGPDConfig); med < 0 removes it. The change is sent at
// once (a soft reset out).
func (b *BGPD) SetMED(ctx context.Context, tunnel int, neighbor netip.Addr, med int64) error {
	set := fmt.Sprintf("set metric %d", med)
	if med < 0 {
		set = "no set metric"
	} else if med > 1<<32-1 {
		return fmt.Errorf("MED %d: at most %d", med, uint32(1<<32-1))
	}
	if err := b.Configure(ctx, fmt.Sprintf("route-map OUT%d permit 10", tunnel), set); err != nil {
		return err
	}
	_, err := b.Vtysh(ctx, "clear bgp ipv4 unicast "+neighbor.String()+" soft out")
	return err
}

// Shutdown administratively shuts the session with neighbor down
// (`neighbor X shutdown`: bgpd sends a Cease and stays idle) or, with down
// false, lets it come back.
func (b *BGPD) Shutdown(ctx context.Context, asn uint32, neighbor netip.Addr, down bool) error {
	no := "no "
	if down {
		no = ""
	}
	return b.Configure(ctx, "router bgp "+strconv.FormatUint(uint64(asn), 10), no+"neighbor "+neighbor.String()+" shutdown")
}

// BGPNeighbor is one session as a bgpd reports it.
type BGPNeighbor struct {
	Neighbor string `json:"neighbor"`
	Tunnel   int    `json:"tunnel,omitempty"`
	ASN      uint32 `json:"asn"`
	State    string `json:"state"` // FRR's: "Established", "Active", "Connect", "Idle", …
	// UptimeMS is how long the session has been established.
	UptimeMS int64 `json:"uptime_ms"`
	Received int   `json:"prefixes_received"`
	Sent     int   `json:"prefixes_sent"`
}

// BGPPath is one path in a bgpd's table.
type BGPPath struct {
	Prefix string `json:"prefix"`
	// From is the neighbour it was learned from, "" for a local network.
	From   string `json:"from,omitempty"`
	ASPath string `json:"as_path"` // FRR's string form, "" when empty
	MED    uint32 `json:"med"`
	Best   bool   `json:"best"`
	// Multipath marks a path installed with the best one (ECMP, FRR's
	// "multipath"), on a bgpd with maximum-paths above 1.
	Multipath bool `json:"multipath,omitempty"`
}

// BGPTable is a bgpd's sessions and IPv4 unicast table.
type BGPTable struct {
	Neighbors []BGPNeighbor `json:"neighbors"`
	Paths     []BGPPath     `json:"paths"`
}

// PathsTo returns the paths to prefix.
func (t BGPTable) PathsTo(prefix string) []BGPPath {
	var out []BGPPath
	for _, p := range t.Paths {
		if p.Prefix == prefix {
			out = append(out, p)
		}
	}
	return out
}

// Table asks the bgpd for its sessions (`show bgp summary json`) and its
// IPv4 unicast table (`show bgp ipv4 unicast json`).
func (b *BGPD) Table(ctx context.Context) (BGPTable, error) {
	var t BGPTable
	out, err := b.Vtysh(ctx, "show bgp summary json")
	if err != nil {
		return t, err
	}
	var sum struct {
		IPv4 struct {
			Peers map[string]struct {
				RemoteAs       uint32 `json:"remoteAs"`
				State          string `json:"state"`
				PeerUptimeMsec int64  `json:"peerUptimeMsec"`
				PfxRcd         int    `json:"pfxRcd"`
				PfxSnt         int    `json:"pfxSnt"`
				Desc           string `json:"desc"`
			} `json:"peers"`
		} `json:"ipv4Unicast"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		return t, fmt.Errorf("reading `show bgp summary json`: %w", err)
	}
	for addr, p := range sum.IPv4.Peers {
		n := BGPNeighbor{Neighbor: addr, ASN: p.RemoteAs, State: p.State, UptimeMS: p.PeerUptimeMsec,
			Received: p.PfxRcd, Sent: p.PfxSnt}
		if s, ok := strings.CutPrefix(p.Desc, "tunnel"); ok {
			n.Tunnel, _ = strconv.Atoi(s)
		}
		if n.State != "Established" {
			n.UptimeMS = 0
		}
		t.Neighbors = append(t.Neighbors, n)
	}
	slices.SortFunc(t.Neighbors, func(a, b BGPNeighbor) int { return strings.Compare(a.Neighbor, b.Neighbor) })

	if out, err = b.Vtysh(ctx, "show bgp ipv4 unicast json"); err != nil {
		return t, err
	}
	var tab struct {
		Routes map[string][]struct {
			Valid    bool   `json:"valid"`
			Bestpath bool   `json:"bestpath"`
			Multi    bool   `json:"multipath"`
			Metric   uint32 `json:"metric"`
			PeerID   string `json:"peerId"`
			Path     string `json:"path"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &tab); err != nil {
		return t, fmt.Errorf("reading `show bgp ipv4 unicast json`: %w", err)
	}
	for prefix, paths := range tab.Routes {
		for _, p := range paths {
			bp := BGPPath{Prefix: prefix, ASPath: p.Path, MED: p.Metric, Best: p.Bestpath, Multipath: p.Multi && !p.Bestpath}
			if _, err := netip.ParseAddr(p.PeerID); err == nil {
				bp.From = p.PeerID
			}
			t.Paths = append(t.Paths, bp)
		}
	}
	slices.SortFunc(t.Paths, func(a, b BGPPath) int {
		if c := strings.Compare(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return strings.Compare(a.From, b.From)
	})
	return t, nil
}
