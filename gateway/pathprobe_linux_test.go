package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// TestPathProbesJudgeEachTunnel: two path probers, one per stand-in XFRM
// interface (veths into a "VPC" namespace whose monitor answers every
// request by tunnel 1, as AWS's hash would put one monitor's replies on
// one tunnel), sharing one echo identifier as a connection's probes do.
// Each prober's requests leave by its own device, though the
// gateway has no route to the monitor at all. Dropping what arrives by
// tunnel 2 takes tunnel 2 out (its requests unanswered, tunnel 1's
// answered: neither counts the other's replies); lifting the drop brings it back; dropping what arrives by
// tunnel 1, the way back of both, takes neither out.
func TestPathProbesJudgeEachTunnel(t *testing.T) {
	testenv.NeedRoot(t, "CAP_NET_ADMIN for network namespaces, raw ICMP sockets")
	testenv.NoLeaks(t)
	gw, vpc := fmt.Sprintf("cgwpp%d-gw", os.Getpid()), fmt.Sprintf("cgwpp%d-vpc", os.Getpid())
	sh := func(cmds ...string) {
		t.Helper()
		for _, c := range cmds {
			if out, err := exec.Command("sh", "-ec", c).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", c, err, out)
			}
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", gw).Run()
		exec.Command("ip", "netns", "del", vpc).Run()
	})
	sh("ip netns add "+gw, "ip netns add "+vpc)
	for _, ns := range []string{gw, vpc} {
		sh("ip -n "+ns+" link set lo up",
			"ip netns exec "+ns+" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0")
	}
	sh("ip -n "+gw+" addr add 172.31.16.1/32 dev lo", "ip -n "+vpc+" addr add 10.10.100.110/32 dev lo")
	for n := 1; n <= 2; n++ {
		dev, peer := xfrmName(n), fmt.Sprintf("p%d", n)
		sh(fmt.Sprintf("ip -n %s link add %s type veth peer name %s netns %s", gw, dev, peer, vpc),
			fmt.Sprintf("ip -n %s link set %s up", gw, dev), fmt.Sprintf("ip -n %s link set %s up", vpc, peer))
	}
	// The way back is tunnel 1, whichever tunnel a request came by.
	sh("ip -n " + vpc + " route add 172.31.16.1/32 dev p1")
	nsPath := "/run/netns/" + gw
	mon := netip.MustParseAddr("10.10.100.110")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	probers := map[int]*prober{}
	for n := 1; n <= 2; n++ {
		p, err := newProber(nsPath, netip.MustParseAddr("172.31.16.1"), []netip.Addr{mon}, 50*time.Millisecond, 150*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		p.setVia(xfrmName(n))
		p.setEchoID(os.Getpid()) // one identifier, as a connection's probes share
		p.setEchoPart(n)
		p.setCarried(true, time.Now())
		probers[n] = p
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx) }()
	}
	judged := map[int]pathJudge{}
	judge := func() []pathChange {
		views := map[int]healthView{}
		for n, p := range probers {
			views[n] = p.view(time.Now())
		}
		var ch []pathChange
		judged, ch = judgePaths(judged, views, pathRejoin, time.Now())
		return ch
	}
	counts := func() string {
		var b strings.Builder
		for n := 1; n <= 2; n++ {
			h := probers[n].view(time.Now())
			fmt.Fprintf(&b, "tunnel %d: sent %d replies %d lost %v; ", n, h.Sent, h.Replies, h.Lost)
		}
		return b.String()
	}
	testenv.Eventually(t, 20*time.Second, "both path probers answered", func() bool {
		judge()
		return probers[1].view(time.Now()).Replies > 3 && probers[2].view(time.Now()).Replies > 3
	})
	// Each request left by its own device: the VPC side counts them per
	// interface.
	sh("ip netns exec " + vpc + ` nft -f - <<'EOF'
table inet pp {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname "p1" icmp type echo-request counter
		iifname "p2" icmp type echo-request counter
	}
	chain out {
		type filter hook output priority -300; policy accept;
	}
}
EOF`)
	testenv.Eventually(t, 20*time.Second, "requests by both interfaces", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", vpc, "nft", "list", "table", "inet", "pp").Output()
		return strings.Count(string(out), "packets 0 ") == 0 && strings.Count(string(out), "counter packets") == 2
	})

	drop := func(chain, rule string) {
		sh("ip netns exec " + vpc + " nft add rule inet pp " + chain + " " + rule + " drop")
	}
	lift := func() {
		sh("ip netns exec " + vpc + " nft delete rule inet pp pre handle $(ip netns exec " + vpc + " nft -a list chain inet pp pre | awk '/drop/ { print $NF }') || true")
		sh("ip netns exec " + vpc + " nft flush chain inet pp out")
	}
	t.Run("tunnel 2 dead: out, then back", func(t *testing.T) {
		drop("pre", `iifname "p2"`)
		start := time.Now()
		testenv.Eventually(t, 20*time.Second, "tunnel 2 out", func() bool { judge(); return judged[2].out })
		t.Logf("tunnel 2 out %.2f s after its requests began to be dropped (50 ms probes, lost after 150 ms): %s", time.Since(start).Seconds(), counts())
		if judged[1].out {
			t.Fatalf("tunnel 1 out too: %s", counts())
		}
		lift()
		testenv.Eventually(t, 20*time.Second, "tunnel 2 back", func() bool { judge(); return !judged[2].out })
	})
	t.Run("the way back dead: neither out", func(t *testing.T) {
		drop("out", `oifname "p1"`)
		testenv.Eventually(t, 20*time.Second, "both path probers unanswered", func() bool {
			judge()
			return probers[1].view(time.Now()).Lost && probers[2].view(time.Now()).Lost
		})
		if judge(); judged[1].out || judged[2].out {
			t.Errorf("with the way back dead: %+v out, want neither: %s", judged, counts())
		}
		lift()
	})
}
