package ike

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// AWS's own tunnel options in what cgw loads: StartupAction start gives
// unique = never, ReplayWindowSize the children's replay_window, and the
// rekey margin and fuzz move cgw's rekey before AWS's; short (lab)
// lifetimes follow the same rule. Golden: testdata/render-aws-options.golden.
func TestRenderAWSOptions(t *testing.T) {
	fuzz0, fuzz100 := 0, 100
	t1 := sampleTunnel()
	t1.AWS = awsconf.AWSOptions{StartupAction: awsconf.StartupStart, DPDTimeoutAction: awsconf.DPDRestart, DPDTimeoutS: 30,
		RekeyMarginS: 60, RekeyFuzzPercent: &fuzz0, ReplayWindow: 2048}
	t2 := sampleTunnel()
	t2.Number, t2.AWSOutside, t2.PSK = 2, netip.MustParseAddr("203.0.113.20"), awsconf.NewPSK("second.key_2")
	t2.IKE.LifetimeS, t2.IPsec.LifetimeS = 60, 30
	t2.AWS = awsconf.AWSOptions{RekeyMarginS: 5, RekeyFuzzPercent: &fuzz100}
	var tunnels []Tunnel
	for i, in := range []awsconf.Tunnel{t1, t2} {
		out, err := TunnelFromAWS(tunnelNames[i], in, awsconf.ProfileMinimum, Params{})
		if err != nil {
			t.Fatal(err)
		}
		tunnels = append(tunnels, out)
	}
	if !tunnels[0].AWSInitiates || tunnels[1].AWSInitiates {
		t.Errorf("AWSInitiates = %t, %t; want true, false", tunnels[0].AWSInitiates, tunnels[1].AWSInitiates)
	}
	// Tunnel 2: AWS rekeys the 30 s child from 20 s on (margin 5 s + 100 %
	// fuzz), cgw at 10 to 15 s; the 60 s IKE_SA from 50 s on, cgw at 40 to 45 s.
	if got := []time.Duration{tunnels[1].ChildRekey, tunnels[1].ChildRand, tunnels[1].IKERekey, tunnels[1].IKERand}; got[0] != 15*time.Second || got[1] != 5*time.Second || got[2] != 45*time.Second || got[3] != 5*time.Second {
		t.Errorf("tunnel 2 child rekey, rand, IKE rekey, rand = %v", got)
	}
	out := Render(tunnels, false)
	for _, want := range []string{"unique = never", "unique = replace", "replay_window = 2048", "rekey_time = 3240s"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered config lacks %q", want)
		}
	}
	if strings.Count(out, "replay_window") != 1 {
		t.Errorf("replay_window rendered %d times, want only for tunnel 1's child", strings.Count(out, "replay_window"))
	}
	golden(t, "render-aws-options.golden", out)

	m, err := tunnels[0].loadConnMessage()
	if err != nil {
		t.Fatal(err)
	}
	conn := m.Get("cgw-tunnel1").(interface{ Get(string) any })
	if got := conn.Get("unique"); got != "never" {
		t.Errorf("load-conn unique = %v, want never", got)
	}
}

var tunnelNames = []string{"cgw-tunnel1", "cgw-tunnel2"}

// StartupAction start with IKEv1 only is refused when the spec is built
// too (cgw.yaml can force the IKE versions).
func TestTunnelFromAWSStartNeedsIKEv2(t *testing.T) {
	in := sampleTunnel()
	in.AWS.StartupAction = awsconf.StartupStart
	_, err := TunnelFromAWS("cgw-tunnel1", in, awsconf.ProfileMinimum, Params{Versions: []int{1}})
	if err == nil || !strings.Contains(err.Error(), "tunnel 1 (cgw-tunnel1): aws.startup_action: start (AWS initiates) needs IKEv2") {
		t.Errorf("TunnelFromAWS: %v", err)
	}
}
