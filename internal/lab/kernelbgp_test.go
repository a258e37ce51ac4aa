package lab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"
)

// TestAWSBGPLines checks what upBGP adds in the aws namespace: the inside
// /32s on lo and guards with libipsec; in kernel mode (the /30s are on
// xfrm1/xfrm2 already) the customer network's blackhole moved out of
// zebra's way into table 253.
func TestAWSBGPLines(t *testing.T) {
	for _, tc := range []struct {
		name, dataplane string
		want            []string
	}{
		{"libipsec", DataplaneLibIPsec, []string{
			"addr add 169.254.10.1/32 dev lo", "route add unreachable 169.254.10.2/32",
			"addr add 169.254.20.5/32 dev lo", "route add unreachable 169.254.20.6/32",
		}},
		{"kernel", DataplaneKernel, []string{
			"route del 172.31.16.0/20", "route add blackhole 172.31.16.0/20 table 253",
			"rule add to 172.31.16.0/20 lookup main suppress_prefixlength 0 priority 215",
			"rule add to 172.31.16.0/20 lookup 253 priority 216",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testState()
			st.Dataplane = tc.dataplane
			if diff := cmp.Diff(tc.want, awsBGPLines(st)); diff != "" {
				t.Errorf("aws-side ip lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlainLinkLines checks the plain initiator's XFRM interfaces in kernel
// mode: with BGP each carries the customer inside /30, as cgw's do.
func TestPlainLinkLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		bgp  bool
		want []string
	}{
		{"static", false, []string{
			"link add plain-xfrm1 type xfrm dev wan0 if_id 1", "link set plain-xfrm1 up",
			"link add plain-xfrm2 type xfrm dev wan0 if_id 2", "link set plain-xfrm2 up",
			"route replace 10.10.100.0/24 dev plain-xfrm1",
		}},
		{"bgp", true, []string{
			"link add plain-xfrm1 type xfrm dev wan0 if_id 1", "addr add 169.254.10.2/30 dev plain-xfrm1", "link set plain-xfrm1 up",
			"link add plain-xfrm2 type xfrm dev wan0 if_id 2", "addr add 169.254.20.6/30 dev plain-xfrm2", "link set plain-xfrm2 up",
			"route replace 10.10.100.0/24 dev plain-xfrm1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, plainLinkLines(testState().Tunnels, tc.bgp)); diff != "" {
				t.Errorf("plain-xfrm ip lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlainConnBGPChildren checks which children the plain initiator loads
// per data plane and routing: the bgpN inside child only with BGP on
// libipsec; kernel mode carries BGP in its one 0.0.0.0/0 child.
func TestPlainConnBGPChildren(t *testing.T) {
	for _, tc := range []struct {
		name, dataplane string
		bgp             bool
		want            []string
	}{
		{"libipsec static", DataplaneLibIPsec, false, []string{"tunnel2"}},
		{"libipsec bgp", DataplaneLibIPsec, true, []string{"tunnel2", "bgp2"}},
		{"kernel static", DataplaneKernel, false, []string{"tunnel2"}},
		{"kernel bgp", DataplaneKernel, true, []string{"tunnel2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := testState()
			st.Dataplane = tc.dataplane
			st.Proposals, st.ESPProposals = DefaultProposals(), DefaultESPProposals()
			l := &Lab{name: "x", dir: dir, st: *st}
			if tc.bgp {
				if err := os.MkdirAll(filepath.Join(dir, string(AWS)), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := l.writeBGP(bgpConfig{AWSASN: AWSASN, CustomerASN: CustomerASN, HoldTimeS: BGPHoldTime}); err != nil {
					t.Fatal(err)
				}
			}
			m := l.plainConn(st.Tunnels[1])
			c, _ := m.Get("tunnel2").(*vici.Message)
			ch, _ := c.Get("children").(*vici.Message)
			if diff := cmp.Diff(tc.want, ch.Keys()); diff != "" {
				t.Errorf("children (-want +got):\n%s", diff)
			}
		})
	}
}
