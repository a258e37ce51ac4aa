package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

func intp(n int) *int { return &n }

// TestRenderJSONImports: the describe-vpn-connections download the lab
// writes is read by cgw's importer as AWS's, with the tunnel options the
// AWS side applies; short lifetimes only with LabShortLifetimes.
func TestRenderJSONImports(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     TunnelOptions
		bgp      bool
		short    bool
		startup  awsconf.StartupAction
		p1, p2   int
		margin   int
		fuzz     int
		versions []int
	}{
		{"aws defaults", TunnelOptions{}, false, false, awsconf.StartupAdd, 28800, 3600, 270, 100, []int{2}},
		{"aws initiates", TunnelOptions{AWSInitiates: true}, false, false, awsconf.StartupStart, 28800, 3600, 270, 100, []int{2}},
		{"bgp", TunnelOptions{AWSInitiates: true}, true, false, awsconf.StartupStart, 28800, 3600, 270, 100, []int{2}},
		{"short lifetimes", TunnelOptions{IKELifetime: time.Minute, ChildLifetime: 50 * time.Second, RekeyMargin: 10 * time.Second, RekeyFuzz: intp(50)},
			false, true, awsconf.StartupAdd, 60, 50, 10, 50, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testState()
			st.TunnelOptions = tc.opts
			x, err := renderXML(st)
			if tc.bgp {
				x, err = renderXMLBGP(st, bgpConfig{AWSASN: AWSASN, CustomerASN: CustomerASN, HoldTimeS: BGPHoldTime})
			}
			if err != nil {
				t.Fatal(err)
			}
			j, err := renderJSON(st, x, tc.bgp)
			if err != nil {
				t.Fatal(err)
			}
			if tc.short {
				if _, err := awsconf.Parse("describe-vpn-connections.json", []byte(j)); err == nil || !strings.Contains(err.Error(), "lab_short_lifetimes") {
					t.Errorf("short lifetimes read without lab_short_lifetimes: err %v", err)
				}
			}
			c, err := awsconf.ParseWith("describe-vpn-connections.json", []byte(j), "", awsconf.ParseOptions{LabShortLifetimes: tc.short})
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != awsconf.FormatJSON || c.VPNConnectionID != st.VPNConnectionID || len(c.Tunnels) != 2 {
				t.Fatalf("format %s id %s, %d tunnels", c.Format, c.VPNConnectionID, len(c.Tunnels))
			}
			for i, got := range c.Tunnels {
				type view struct {
					AWSOutside, AWSInside     string
					Startup                   awsconf.StartupAction
					P1, P2, Margin, Fuzz, DPD int
					Versions                  []int
					KeyOK                     bool
				}
				fuzz := -1
				if got.AWS.RekeyFuzzPercent != nil {
					fuzz = *got.AWS.RekeyFuzzPercent
				}
				want := view{st.Tunnels[i].AWSOutside, st.Tunnels[i].AWSInside, tc.startup, tc.p1, tc.p2, tc.margin, tc.fuzz, 40, tc.versions, true}
				g := view{got.AWSOutside.String(), got.AWSInside.String(), got.AWS.StartupAction, got.IKE.LifetimeS, got.IPsec.LifetimeS,
					got.AWS.RekeyMarginS, fuzz, got.AWS.DPDTimeoutS, got.IKE.Versions, got.PSK.Equal(awsconf.NewPSK(st.Tunnels[i].PSK))}
				if diff := cmp.Diff(want, g); diff != "" {
					t.Errorf("tunnel %d (-want +got):\n%s", i+1, diff)
				}
			}
			wantRouting := awsconf.RoutingStatic
			if tc.bgp {
				wantRouting = awsconf.RoutingBGP
			}
			if c.Routing != wantRouting {
				t.Errorf("routing %s, want %s", c.Routing, wantRouting)
			}
		})
	}
}

// TestRenderLabConfig: cgw.yaml names the JSON download only when the
// lab has tunnel options, and says lab_short_lifetimes only below AWS's
// minimum lifetimes or margin.
func TestRenderLabConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      TunnelOptions
		json      bool
		shortLife bool
	}{
		{"defaults", TunnelOptions{}, false, false},
		{"aws initiates", TunnelOptions{AWSInitiates: true}, true, false},
		{"lifetimes in AWS's range", TunnelOptions{ChildLifetime: 900 * time.Second, RekeyMargin: 60 * time.Second}, true, false},
		{"short child lifetime", TunnelOptions{ChildLifetime: 50 * time.Second, RekeyMargin: 10 * time.Second}, true, true},
		{"short margin", TunnelOptions{RekeyMargin: 30 * time.Second}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testState()
			st.TunnelOptions = tc.opts
			s := renderLabConfig(st, "/x", false)
			if got := strings.Contains(s, "aws_config: /x/describe-vpn-connections.json\n"); got != tc.json {
				t.Errorf("names the json download: %t, want %t\n%s", got, tc.json, s)
			}
			if !tc.json && !strings.Contains(s, "aws_config: /x/generic.txt\n") {
				t.Errorf("does not name generic.txt:\n%s", s)
			}
			if got := strings.Contains(s, "\nlab_short_lifetimes: true\n"); got != tc.shortLife {
				t.Errorf("lab_short_lifetimes: %t, want %t\n%s", got, tc.shortLife, s)
			}
		})
	}
}

// TestTunnelOptionsCheck: what the lab refuses, each naming the option.
func TestTunnelOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TunnelOptions
		ike  int
		want string // "" = accepted
	}{
		{"defaults", TunnelOptions{}, 1, ""},
		{"aws initiates ikev2", TunnelOptions{AWSInitiates: true}, 2, ""},
		{"aws initiates ikev1", TunnelOptions{AWSInitiates: true}, 1, "aws initiates: AWS initiates (StartupAction start) only IKEv2 tunnels"},
		{"soak", TunnelOptions{IKELifetime: time.Minute, ChildLifetime: 50 * time.Second, RekeyMargin: 10 * time.Second, RekeyFuzz: intp(50)}, 2, ""},
		{"ike lifetime too short", TunnelOptions{IKELifetime: 5 * time.Second}, 2, "ike lifetime (Phase1LifetimeSeconds): 5s is outside 10s-8h0m0s"},
		{"child lifetime too long", TunnelOptions{ChildLifetime: 2 * time.Hour}, 2, "child lifetime (Phase2LifetimeSeconds): 2h0m0s is outside"},
		{"fractional lifetime", TunnelOptions{ChildLifetime: 1500 * time.Millisecond}, 2, "not a whole number of seconds"},
		{"margin over half", TunnelOptions{ChildLifetime: time.Minute, RekeyMargin: 31 * time.Second}, 2, "rekey margin (RekeyMarginTimeSeconds): 31s is outside 1s-30s"},
		{"default margin over half a short lifetime", TunnelOptions{ChildLifetime: time.Minute}, 2, "rekey margin (RekeyMarginTimeSeconds): 4m30s"},
		{"fuzz", TunnelOptions{RekeyFuzz: intp(101)}, 2, "rekey fuzz (RekeyFuzzPercentage): 101 %"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.check(tc.ike)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestAWSRekeyTimes: the AWS side's charon rekeys as AWS applies its
// options (rekey_time = lifetime − margin, rand_time = fuzz % of the
// margin, the lifetime as the hard limit), AWS's defaults when unset.
func TestAWSRekeyTimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TunnelOptions
		want map[string]string // conn.* and child.*
	}{
		{"aws defaults", TunnelOptions{}, map[string]string{
			"conn.rekey_time": "28530s", "conn.over_time": "270s", "conn.rand_time": "270s",
			"child.rekey_time": "3330s", "child.life_time": "3600s", "child.rand_time": "270s"}},
		{"soak", TunnelOptions{IKELifetime: time.Minute, ChildLifetime: 50 * time.Second, RekeyMargin: 10 * time.Second, RekeyFuzz: intp(50)}, map[string]string{
			"conn.rekey_time": "50s", "conn.over_time": "10s", "conn.rand_time": "5s",
			"child.rekey_time": "40s", "child.life_time": "50s", "child.rand_time": "5s"}},
		{"no fuzz", TunnelOptions{RekeyFuzz: intp(0)}, map[string]string{
			"conn.rekey_time": "28530s", "conn.over_time": "270s", "conn.rand_time": "0s",
			"child.rekey_time": "3330s", "child.life_time": "3600s", "child.rand_time": "0s"}},
		{"rand below rekey", TunnelOptions{ChildLifetime: 20 * time.Second, RekeyMargin: 10 * time.Second}, map[string]string{
			"conn.rekey_time": "28790s", "conn.over_time": "10s", "conn.rand_time": "10s",
			"child.rekey_time": "10s", "child.life_time": "20s", "child.rand_time": "9s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, child := vici.NewMessage(), vici.NewMessage()
			tc.opts.setRekeys(conn, child)
			got := map[string]string{}
			for _, k := range conn.Keys() {
				got["conn."+k] = conn.Get(k).(string)
			}
			for _, k := range child.Keys() {
				got["child."+k] = child.Get(k).(string)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rekey settings (-want +got):\n%s", diff)
			}
		})
	}
}
