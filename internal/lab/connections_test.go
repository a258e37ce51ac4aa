package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/testenv"
)

func TestCheckConnections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		dp      string
		side    string
		tunnels int
		want    int
		err     string
	}{
		{"default", Options{}, DataplaneLibIPsec, AWSFaithful, 2, 1, ""},
		{"two", Options{Connections: 2}, DataplaneLibIPsec, AWSFaithful, 2, 2, ""},
		{"three", Options{Connections: 3}, DataplaneLibIPsec, AWSFaithful, 2, 3, ""},
		{"four", Options{Connections: 4}, DataplaneLibIPsec, AWSFaithful, 2, 4, ""},
		{"four tgw", Options{Connections: 4, TGW: true, BGP: true}, DataplaneLibIPsec, AWSFaithful, 2, 4, ""},
		{"five", Options{Connections: 5}, DataplaneLibIPsec, AWSFaithful, 2, 0, "want 1 to 4"},
		{"kernel three", Options{Connections: 3, TGW: true, BGP: true}, DataplaneKernel, "", 2, 0, "kernel mode has at most 2 connections (--connections 2)"},
		{"tgw without bgp", Options{Connections: 2, TGW: true}, DataplaneLibIPsec, AWSFaithful, 2, 0, "add --bgp"},
		{"tgw", Options{Connections: 2, TGW: true, BGP: true}, DataplaneLibIPsec, AWSFaithful, 2, 2, ""},
		{"kernel", Options{Connections: 2}, DataplaneKernel, "", 2, 0, "--tgw"},
		{"kernel tgw", Options{Connections: 2, TGW: true, BGP: true}, DataplaneKernel, "", 2, 2, ""},
		{"tgw, one connection", Options{TGW: true, BGP: true}, DataplaneLibIPsec, AWSFaithful, 2, 1, ""},
		{"tgw, kernel", Options{TGW: true, BGP: true}, DataplaneKernel, "", 2, 1, ""},
		{"newest sa", Options{Connections: 2}, DataplaneLibIPsec, AWSNewestSA, 2, 0, AWSFaithful},
		{"one tunnel", Options{Connections: 2}, DataplaneLibIPsec, AWSFaithful, 1, 0, "2 tunnels each"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkConnections(tc.o, tc.dp, tc.side, tc.tunnels)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestAddConnections(t *testing.T) {
	for _, tgw := range []bool{false, true} {
		st := state{AWSSide: AWSFaithful, VPNGatewayID: "vgw-1"}
		var err error
		if st.Tunnels, err = newTunnels(2); err != nil {
			t.Fatal(err)
		}
		if err := st.addConnections(4, tgw); err != nil {
			t.Fatal(err)
		}
		if len(st.Tunnels) != 8 {
			t.Fatalf("tgw %v: %d tunnels", tgw, len(st.Tunnels))
		}
		seen := map[string]bool{}
		for i, tun := range st.Tunnels {
			if tun.Number != i+1 || tun.conn() != 1+i/2 || tun.AWSOutside != tunnelOutside(i+1) {
				t.Errorf("tgw %v: tunnel %d: %+v", tgw, i+1, tun)
			}
			if seen[tun.AWSInside] || seen[tun.PSK] {
				t.Errorf("tgw %v: tunnel %d repeats an inside /30 or a key", tgw, i+1)
			}
			seen[tun.AWSInside], seen[tun.PSK] = true, true
			if st.endpoint(tun.Number) != endpointOf(tun.Number) {
				t.Errorf("tunnel %d's endpoint %s", tun.Number, st.endpoint(tun.Number))
			}
		}
		v := st.connView(2)
		if len(v.Tunnels) != 2 || v.Tunnels[0].Number != 1 || v.Tunnels[0].AWSOutside != Tunnel3Outside ||
			v.VPNConnectionID == st.VPNConnectionID || !strings.HasPrefix(v.VPNConnectionID, "vpn-") {
			t.Errorf("tgw %v: connection 2's view %+v", tgw, v)
		}
		wantGW, wantVPC := VGW2, VPC2Network
		if tgw {
			wantGW, wantVPC = VGW, VPCNetwork
			if st.VPNGatewayID != "" || v.VPNGatewayID != "" || !strings.HasPrefix(st.TransitGatewayID, "tgw-") {
				t.Errorf("tgw: gateway IDs %q %q %q", st.VPNGatewayID, v.VPNGatewayID, st.TransitGatewayID)
			}
		} else if !strings.HasPrefix(v.VPNGatewayID, "vgw-") || v.VPNGatewayID == st.VPNGatewayID {
			t.Errorf("connection 2's own gateway ID %q", v.VPNGatewayID)
		}
		if st.gatewayOf(2) != wantGW || st.vpcNetworkOf(2) != wantVPC {
			t.Errorf("tgw %v: connection 2 on %s to %s", tgw, st.gatewayOf(2), st.vpcNetworkOf(2))
		}
		// Connections 3 and 4 follow connection 2's pattern.
		for c, want := range map[int]struct {
			gw             Host
			vpcNet, vpcHst string
			prefer         int
		}{
			3: {"vgw3", "10.30.100.0/24", "10.30.100.110", 5},
			4: {"vgw4", "10.40.100.0/24", "10.40.100.110", 7},
		} {
			if tgw {
				want.gw, want.vpcNet, want.vpcHst = VGW, VPCNetwork, VPCHost
			}
			if st.gatewayOf(c) != want.gw || st.vpcNetworkOf(c) != want.vpcNet || st.vpcHostOf(c) != want.vpcHst ||
				!slices.Equal(tunnelNumbers(st.connTunnels(c)), []int{2*c - 1, 2 * c}) {
				t.Errorf("tgw %v: connection %d on %s to %s (%s), tunnels %v", tgw, c, st.gatewayOf(c), st.vpcNetworkOf(c), st.vpcHostOf(c),
					tunnelNumbers(st.connTunnels(c)))
			}
			if !tgw && (st.preferOf(want.gw) != want.prefer || st.gatewayConn(want.gw) != c || gatewayRouterID(want.gw) != fmt.Sprintf("10.%d.100.1", 10*c)) {
				t.Errorf("%s: prefers %d, connection %d, router ID %s", want.gw, st.preferOf(want.gw), st.gatewayConn(want.gw), gatewayRouterID(want.gw))
			}
		}
		wantGWs := []Host{VGW, VGW2, "vgw3", "vgw4"}
		if tgw {
			wantGWs = []Host{VGW}
		}
		if !slices.Equal(st.gateways(), wantGWs) {
			t.Errorf("tgw %v: gateways %v, want %v", tgw, st.gateways(), wantGWs)
		}
		// Every host has links to exactly the hosts the topology names,
		// and every interface name is unique in its namespace.
		hosts := st.hosts()
		devs := map[Host]map[string]bool{}
		for _, k := range linksOf(&st) {
			for _, e := range []struct {
				h   Host
				dev string
			}{{k.a, k.aName}, {k.b, k.bName}} {
				if !slices.Contains(hosts, e.h) {
					t.Errorf("tgw %v: link %+v to a host the lab does not have", tgw, k)
				}
				if devs[e.h] == nil {
					devs[e.h] = map[string]bool{}
				}
				if devs[e.h][e.dev] {
					t.Errorf("tgw %v: %s has two %s", tgw, e.h, e.dev)
				}
				devs[e.h][e.dev] = true
			}
		}
		cfgs := hostConfigs(&st, false)
		for _, h := range hosts {
			if _, ok := cfgs[h]; !ok {
				t.Errorf("tgw %v: no configuration for %s", tgw, h)
			}
			if len(namespace("sc4abcdefghijklmnopq", h)) > 31 {
				t.Errorf("%s's namespace name is too long", h)
			}
		}
		if n := len(hosts); (tgw && n != 14) || (!tgw && n != 20) {
			t.Errorf("tgw %v: %d hosts: %v", tgw, n, hosts)
		}
	}
}

func TestRouteTunnels(t *testing.T) {
	host := netip.MustParseAddr(OnPremHost)
	for _, tc := range []struct {
		name, out string
		want      []int
	}{
		{"one", "172.31.16.0/20 via 10.255.1.2 dev aws1 proto bgp metric 20 \n10.10.100.0/24 dev vpc0 proto kernel scope link src 10.10.100.1 \n", []int{1}},
		{"multipath", "172.31.16.0/20 nhid 21 proto bgp metric 20 \tnexthop via 10.255.1.2 dev aws1 weight 1 \tnexthop via 10.255.4.2 dev aws4 weight 1 \tnexthop via 10.255.2.2 dev aws2 weight 1 \n", []int{1, 2, 4}},
		{"more specific wins", "172.31.16.0/20 via 10.255.1.2 dev aws1 \n172.31.16.0/21 via 10.255.3.2 dev aws3 \n", []int{3}},
		{"unreachable", "unreachable 172.31.16.0/20 \n", nil},
		{"none", "", nil},
	} {
		if got := routeTunnels(tc.out, host); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// waitAWSTunnels waits until the AWS side has an IKE_SA from the Elastic
// IP and an installed CHILD_SA on every tunnel of l.
func waitAWSTunnels(t *testing.T, l *Lab, within time.Duration) {
	t.Helper()
	var last []TunnelStatus
	ok := testenv.Wait(within, func() bool {
		st, err := l.Status(testCtx(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		last = st.Tunnels
		for _, ts := range st.Tunnels {
			if ts.IKESAs != 1 || ts.ChildSAs < 1 || ts.RemoteHost != ElasticIP {
				return false
			}
		}
		return len(st.Tunnels) == len(l.st.Tunnels)
	})
	if !ok {
		t.Fatalf("AWS side not up on every tunnel within %v: %+v", within, last)
	}
}

// gatewayReturn returns the return path of gateway router gw.
func gatewayReturn(t *testing.T, l *Lab, gw Host) ReturnPath {
	t.Helper()
	return *l.faithfulReturnPath(testCtx(t, 10*time.Second), gw)
}

// waitGatewayReturn waits until gateway gw's return path is on tunnel n.
func waitGatewayReturn(t *testing.T, l *Lab, gw Host, n int, within time.Duration) {
	t.Helper()
	var rp ReturnPath
	if !testenv.Wait(within, func() bool { rp = gatewayReturn(t, l, gw); return rp.Tunnel == n }) {
		t.Fatalf("%s's return path not on tunnel %d within %v: %+v", gw, n, within, rp)
	}
}

// TestTwoConnectionsStatic: two VPN connections on two virtual private
// gateways, static routing. The plain initiator brings up all four
// tunnels; each AWS side answers (pings reach both VPCs); each gateway
// keeps its own return path (vgw on tunnel 1, vgw2 on tunnel 3), and the
// customer closing tunnel 3 moves only vgw2's. The files are each
// connection's, and cgw.yaml lists both.
func TestTwoConnectionsStatic(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{Connections: 2})
	checkConnectionFiles(t, l, awsconf.RoutingStatic)
	if err := l.PlainInitiate(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitAWSTunnels(t, l, 30*time.Second)
	waitGatewayReturn(t, l, VGW, 1, 20*time.Second)
	waitGatewayReturn(t, l, VGW2, 3, 20*time.Second)
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("onprem cannot ping connection 1's VPC host")
	}
	if !ping(t, l, OnPrem, VPC2Host, 3) {
		t.Error("onprem cannot ping connection 2's VPC host")
	}
	st, err := l.Status(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.Connections != 2 || len(st.ReturnPaths) != 2 || st.ReturnPaths[1].Gateway != VGW2 ||
		!slices.Equal(st.ReturnPaths[1].Connections, []int{2}) || st.Tunnels[2].Connection != 2 || st.Tunnels[2].ConnTunnel != 1 {
		t.Errorf("status %+v", st)
	}

	terminateIKE(t, l, 3)
	waitGatewayReturn(t, l, VGW2, 4, 20*time.Second)
	if rp := gatewayReturn(t, l, VGW); rp.Tunnel != 1 {
		t.Errorf("closing tunnel 3 moved vgw's return path: %+v", rp)
	}
	if !ping(t, l, OnPrem, VPC2Host, 3) {
		t.Error("no ping to connection 2's VPC over tunnel 4")
	}
	initiateIKE(t, l, 3)
	waitGatewayReturn(t, l, VGW2, 3, 20*time.Second)
}

// TestFourConnectionsStatic: four VPN connections on four virtual
// private gateways, static routing, on the libipsec lab. The plain
// initiator brings up all eight tunnels; every VPC answers over its own
// connection; each gateway keeps its own return path on its connection's
// first tunnel (vgw 1, vgw2 3, vgw3 5, vgw4 7), and the customer closing
// tunnel 7 moves only vgw4's. silence-tunnel8 silences connection 4's
// second endpoint.
func TestFourConnectionsStatic(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{Name: "sc4" + testName(t)[4:], Connections: 4})
	checkConnectionFiles(t, l, awsconf.RoutingStatic)
	if err := l.PlainInitiate(testCtx(t, 120*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitAWSTunnels(t, l, 60*time.Second)
	gws := []Host{VGW, VGW2, VGWOf(3), VGWOf(4)}
	for c, gw := range gws {
		waitGatewayReturn(t, l, gw, GlobalTunnel(c+1, 1), 30*time.Second)
	}
	for c := 1; c <= 4; c++ {
		if !ping(t, l, OnPrem, VPCHostOf(c), 3) {
			t.Errorf("onprem cannot ping connection %d's VPC host %s", c, VPCHostOf(c))
		}
	}
	st, err := l.Status(testCtx(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.Connections != 4 || len(st.Tunnels) != 8 || len(st.ReturnPaths) != 4 || len(st.ConnectionFiles) != 3 {
		t.Fatalf("status: %d connections, %d tunnels, %d return paths, %d connection files", st.Connections, len(st.Tunnels), len(st.ReturnPaths), len(st.ConnectionFiles))
	}
	for i, rp := range st.ReturnPaths {
		if rp.Gateway != gws[i] || !slices.Equal(rp.Connections, []int{i + 1}) {
			t.Errorf("return path %d: %+v", i, rp)
		}
	}
	if ts := st.Tunnels[6]; ts.Number != 7 || ts.Connection != 4 || ts.ConnTunnel != 1 || ts.AWSOutside != "203.0.113.70" {
		t.Errorf("tunnel 7: %+v", ts)
	}

	terminateIKE(t, l, 7)
	waitGatewayReturn(t, l, VGWOf(4), 8, 20*time.Second)
	for c, gw := range gws[:3] {
		if rp := gatewayReturn(t, l, gw); rp.Tunnel != GlobalTunnel(c+1, 1) {
			t.Errorf("closing tunnel 7 moved %s's return path: %+v", gw, rp)
		}
	}
	if !ping(t, l, OnPrem, VPCHostOf(4), 3) {
		t.Error("no ping to connection 4's VPC over tunnel 8")
	}
	initiateIKE(t, l, 7)
	waitGatewayReturn(t, l, VGWOf(4), 7, 20*time.Second)

	fault(t, l, FaultSilenceTunnel8, true)
	if !ping(t, l, OnPrem, VPCHostOf(4), 3) {
		t.Error("silencing tunnel 8 broke connection 4's traffic over tunnel 7")
	}
	fault(t, l, FaultSilenceTunnel8, false)
}

// checkConnectionFiles checks the download files of every connection
// with cgw's importer, and cgw.yaml's connections: list.
func checkConnectionFiles(t *testing.T, l *Lab, routing awsconf.Routing) {
	t.Helper()
	for c := 1; c <= l.ConnectionCount(); c++ {
		for _, path := range []string{l.ConnGenericFile(c), l.ConnXMLFile(c)} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ac, err := awsconf.Parse(path, data)
			if err != nil {
				t.Fatalf("awsconf.Parse: %v", err)
			}
			tuns := l.st.connTunnels(c)
			if ac.VPNConnectionID != l.st.connID(c) || ac.Routing != routing || len(ac.Tunnels) != 2 {
				t.Fatalf("%s: id %q routing %q, %d tunnels; want %q %q", path, ac.VPNConnectionID, ac.Routing, len(ac.Tunnels), l.st.connID(c), routing)
			}
			for i, tun := range tuns {
				got := ac.Tunnels[i]
				if got.AWSOutside.String() != tun.AWSOutside || got.AWSInside.String() != tun.AWSInside || !got.PSK.Equal(awsconf.NewPSK(tun.PSK)) {
					t.Errorf("%s: tunnel %d is not the lab's tunnel %d", path, i+1, tun.Number)
				}
			}
		}
	}
	if l.GenericFile() != l.ConnGenericFile(1) || l.XMLFile() != l.ConnXMLFile(1) {
		t.Error("connection 1's files moved")
	}
	b, err := os.ReadFile(l.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for _, want := range []string{"connections:\n", "  - name: conn1", "    aws_config: " + l.ConnGenericFile(2),
		"    remote_networks: [" + l.st.vpcNetworkOf(2) + "]", "local_networks: [" + OnPremNetwork + "]"} {
		if !strings.Contains(y, want) {
			t.Errorf("cgw.yaml lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "ecmp") != l.TGW() {
		t.Errorf("cgw.yaml's ecmp, tgw %v:\n%s", l.TGW(), y)
	}
}

// upCustomerBGP brings up the plain initiator and a customer bgpd on
// every tunnel of l, and waits until the AWS side has all its sessions
// established.
func upCustomerBGP(t *testing.T, l *Lab, ctx context.Context) *BGPD {
	t.Helper()
	if err := l.PlainInitiate(testCtx(t, 90*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitAWSTunnels(t, l, 30*time.Second)
	cb, err := l.StartPlainBGP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cb.Stop)
	var st BGPStatus
	ok := testenv.Wait(90*time.Second, func() bool {
		if st, err = l.BGPStatus(ctx); err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, n := range st.Neighbors {
			if n.State == "Established" && n.Received == 1 {
				up++
			}
		}
		return up == len(l.st.Tunnels) && len(st.Neighbors) == len(l.st.Tunnels)
	})
	if !ok {
		t.Fatalf("the AWS side's sessions did not all come up with the customer's prefix:\n%s", st)
	}
	return cb
}

// TestTwoConnectionsBGP: two VPN connections on two virtual private
// gateways with BGP. All four sessions come up; each gateway installs one
// best path over its own connection's tunnels (no ECMP on a VGW), and its
// endpoints announce its own VPC only.
func TestTwoConnectionsBGP(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	if err := checkZebra(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	t.Parallel()
	l := upLab(t, Options{Connections: 2, BGP: true})
	checkConnectionFiles(t, l, awsconf.RoutingBGP)
	ctx := testCtx(t, 4*time.Minute)
	cb := upCustomerBGP(t, l, ctx)
	var rp1, rp2 ReturnPath
	ok := testenv.Wait(30*time.Second, func() bool {
		rp1, rp2 = gatewayReturn(t, l, VGW), gatewayReturn(t, l, VGW2)
		return (rp1.Tunnel == 1 || rp1.Tunnel == 2) && (rp2.Tunnel == 3 || rp2.Tunnel == 4) &&
			len(rp1.Tunnels) == 1 && len(rp2.Tunnels) == 1
	})
	if !ok {
		t.Fatalf("return paths vgw %+v vgw2 %+v: want one path each, over its own connection's tunnels", rp1, rp2)
	}
	t.Logf("vgw: %s\nvgw2: %s", rp1.Why, rp2.Why)
	tab, err := cb.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from := map[string][]string{}
	for _, p := range tab.Paths {
		if p.From != "" {
			from[p.Prefix] = append(from[p.Prefix], p.From)
		}
	}
	want := func(ts ...tunnel) []string {
		var out []string
		for _, tun := range ts {
			a, _ := tunnelInside(tun)
			out = append(out, a.String())
		}
		slices.Sort(out)
		return out
	}
	for prefix, ts := range map[string][]tunnel{VPCNetwork: l.st.connTunnels(1), VPC2Network: l.st.connTunnels(2)} {
		got := from[prefix]
		slices.Sort(got)
		if !slices.Equal(got, want(ts...)) {
			t.Errorf("the customer learned %s from %v, want from %v only", prefix, got, want(ts...))
		}
	}
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping to connection 1's VPC")
	}
	if !ping(t, l, OnPrem, VPC2Host, 3) {
		t.Error("no ping to connection 2's VPC")
	}
}

// TestTGWECMP: two VPN connections on one transit gateway. All four
// sessions come up with AWS's one ASN; the transit gateway's route to the
// on-prem network is one multipath route over all four tunnels; a tunnel
// the customer announces with a longer AS path leaves the set and comes
// back; a silenced endpoint leaves it once its session's hold timer
// expires, and no other path leaves with it.
func TestTGWECMP(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	if err := checkZebra(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	t.Parallel()
	l := upLab(t, Options{Connections: 2, TGW: true, BGP: true})
	checkConnectionFiles(t, l, awsconf.RoutingBGP)
	ctx := testCtx(t, 5*time.Minute)
	cb := upCustomerBGP(t, l, ctx)
	st, err := l.BGPStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Neighbors {
		if n.Sent != 1 {
			t.Errorf("AWS side sends %d prefixes on tunnel %d, want the VPC only", n.Sent, n.Tunnel)
		}
	}
	waitSet := func(want []int, within time.Duration, keep []int) time.Duration {
		t.Helper()
		start := time.Now()
		var rp ReturnPath
		ok := testenv.Wait(within, func() bool {
			rp = gatewayReturn(t, l, VGW)
			for _, n := range keep {
				if !slices.Contains(rp.Tunnels, n) {
					t.Fatalf("tunnel %d left the ECMP set: %+v", n, rp)
				}
			}
			return slices.Equal(rp.Tunnels, want)
		})
		if !ok {
			t.Fatalf("the transit gateway's return path not over tunnels %v within %v: %+v", want, within, rp)
		}
		return time.Since(start)
	}
	waitSet([]int{1, 2, 3, 4}, 30*time.Second, nil)
	rp := gatewayReturn(t, l, VGW)
	t.Logf("TGW return path: %+v", rp)
	if !strings.Contains(rp.Why, "multipath") {
		t.Errorf("why %q", rp.Why)
	}
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping over the transit gateway")
	}

	// 64 UDP flows from the VPC host to the on-prem host: the transit
	// gateway hashes them per flow over all four tunnels.
	got := spreadFlows(t, l, 64)
	t.Logf("64 UDP flows from the VPC by tunnel: %v", got)
	for n := 1; n <= 4; n++ {
		if got[n] == 0 {
			t.Errorf("no flow over tunnel %d: %v", n, got)
		}
	}

	soft := func(lines ...string) {
		t.Helper()
		if err := cb.Configure(ctx, lines...); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.Vtysh(ctx, "clear bgp ipv4 unicast * soft out"); err != nil {
			t.Fatal(err)
		}
	}
	soft("route-map OUT4 permit 10", "set as-path prepend 65000")
	waitSet([]int{1, 2, 3}, 30*time.Second, []int{1, 2, 3})
	soft("route-map OUT4 permit 10", "no set as-path prepend")
	waitSet([]int{1, 2, 3, 4}, 30*time.Second, []int{1, 2, 3})

	if err := l.Fault(ctx, FaultSilenceTunnel3, true); err != nil {
		t.Fatal(err)
	}
	d := waitSet([]int{1, 2, 4}, 90*time.Second, []int{1, 2, 4})
	t.Logf("TIMING tgw_silenced_path_gone_s %.3f (hold %d s)", d.Seconds(), BGPHoldTime)
	if d < 10*time.Second {
		t.Errorf("tunnel 3 left the set %v after it was silenced: before its hold timer could expire", d)
	}
	got = spreadFlows(t, l, 64)
	t.Logf("64 UDP flows with tunnel 3 silenced: %v", got)
	if got[3] != 0 || got[1] == 0 || got[2] == 0 || got[4] == 0 {
		t.Errorf("flows by tunnel %v: want none over tunnel 3, some over each other", got)
	}
}

// spreadFlows sends flows UDP datagrams from the VPC host to the on-prem
// host, each from a new socket (a new source port: a new flow), and
// returns how many vgw forwarded to each tunnel's endpoint, counted by an
// nft table in vgw.
func spreadFlows(t *testing.T, l *Lab, flows int) map[int]int {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	var rules []string
	for _, tun := range l.st.Tunnels {
		rules = append(rules, fmt.Sprintf("oifname \"aws%d\" udp dport 9 counter", tun.Number))
	}
	script := "table ip flows {}\ndelete table ip flows\ntable ip flows {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\t" +
		strings.Join(rules, "\n\t\t") + "\n\t}\n}\n"
	if err := nftIn(ctx, l.Namespace(VGW), script); err != nil {
		t.Fatal(err)
	}
	send := fmt.Sprintf("for i in $(seq %d); do exec 3>/dev/udp/%s/9 && echo flow >&3; exec 3>&-; done", flows, OnPremHost)
	if out, err := l.Command(ctx, VPC, "bash", "-c", send).CombinedOutput(); err != nil {
		t.Fatalf("sending flows: %v %s", err, out)
	}
	var got map[int]int
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d flows counted in vgw", flows), func() bool {
		out, err := l.Command(ctx, VGW, "nft", "list", "table", "ip", "flows").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v %s", err, out)
		}
		got = map[int]int{}
		sum := 0
		for _, m := range regexp.MustCompile(`oifname "aws(\d)" udp dport 9 counter packets (\d+)`).FindAllStringSubmatch(string(out), -1) {
			n, _ := strconv.Atoi(m[1])
			c, _ := strconv.Atoi(m[2])
			got[n], sum = c, sum+c
		}
		return sum == flows
	})
	return got
}

// FuzzRouteTunnels: any `ip -o route` output gives tunnels 1-4 only,
// sorted and without repeats, and never panics.
func FuzzRouteTunnels(f *testing.F) {
	f.Add("172.31.16.0/20 nhid 21 proto bgp metric 20 \tnexthop via 10.255.1.2 dev aws1 weight 1 \tnexthop via 10.255.4.2 dev aws4 weight 1 \n")
	f.Add("unreachable 172.31.16.0/20 \n172.31.16.103 via 10.255.2.2 dev aws2\n")
	f.Add("via via 10.255.3.2\n172.31.0.0/16 via")
	f.Fuzz(func(t *testing.T, out string) {
		ts := routeTunnels(out, netip.MustParseAddr(OnPremHost))
		if !slices.IsSorted(ts) || len(slices.Compact(slices.Clone(ts))) != len(ts) {
			t.Fatalf("%v: not sorted or repeated", ts)
		}
		for _, n := range ts {
			if n < 1 || n > 2*MaxConnections {
				t.Fatalf("tunnel %d", n)
			}
		}
	})
}

// TestGatewayPaths: a transit gateway installs a path per tunnel it can
// have (8 with libipsec, 4 in kernel mode), a virtual private gateway one.
func TestGatewayPaths(t *testing.T) {
	for _, tc := range []struct {
		st   state
		want int
	}{
		{state{}, 1},
		{state{TGW: true}, 8},
		{state{TGW: true, Dataplane: DataplaneKernel}, 4},
		{state{Dataplane: DataplaneKernel}, 1},
	} {
		if got := tc.st.gatewayPaths(); got != tc.want {
			t.Errorf("tgw %v, dataplane %s: maximum-paths %d, want %d", tc.st.TGW, tc.st.dataplane(), got, tc.want)
		}
	}
}

// TestFourConnectionsTGW: four connections on one transit gateway with
// BGP. All eight sessions come up, and vgw's maximum-paths 8 installs one
// multipath route over every tunnel.
func TestFourConnectionsTGW(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	if err := checkZebra(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	t.Parallel()
	l := upLab(t, Options{Name: "sc4t" + testName(t)[4:], Connections: 4, TGW: true, BGP: true})
	checkConnectionFiles(t, l, awsconf.RoutingBGP)
	ctx := testCtx(t, 5*time.Minute)
	upCustomerBGP(t, l, ctx)
	var rp ReturnPath
	if !testenv.Wait(60*time.Second, func() bool {
		rp = gatewayReturn(t, l, VGW)
		return slices.Equal(rp.Tunnels, []int{1, 2, 3, 4, 5, 6, 7, 8})
	}) {
		t.Fatalf("the transit gateway's return path is not over all eight tunnels: %+v", rp)
	}
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping across the transit gateway")
	}
}
