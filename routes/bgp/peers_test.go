package bgp

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/google/go-cmp/cmp"
)

func TestPeersFrom(t *testing.T) {
	data, err := os.ReadFile("../../gateway/awsconf/testdata/generic-bgp-ikev1.txt")
	if err != nil {
		t.Skip(err)
	}
	c, err := awsconf.Parse("generic-bgp-ikev1.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := PeersFrom(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d peers, want 2", len(ps))
	}
	for i, p := range ps {
		tun := c.Tunnels[i]
		want := Peer{Tunnel: tun.Number, Local: tun.CustomerInside.Addr(), Neighbor: tun.AWSInside.Addr(),
			LocalASN: tun.BGP.CustomerASN, PeerASN: tun.BGP.AWSASN, HoldTime: 30 * time.Second}
		if diff := cmp.Diff(want, p, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("peer %d (-want +got):\n%s", i+1, diff)
		}
	}
	c.Tunnels[1].BGP = nil
	if _, err := PeersFrom(c); err == nil || !strings.Contains(err.Error(), "tunnel 2") {
		t.Errorf("PeersFrom without tunnel 2's BGP = %v", err)
	}
}
