package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
)

// TestReturnPathOf: last_failover.return_path says what AWS will do with
// the left tunnel's DPD options, and that cgw's own handling agrees.
func TestReturnPathOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		aws     awsconf.AWSOptions
		bgp     bool
		want    []string
		notWant []string
	}{
		{"defaults: clear after 40 s", awsconf.AWSOptions{}, false,
			[]string{"off tunnel 1 only when its DPD declares", "DPDTimeoutSeconds 40 s: 30–40 s after it went silent", "DPDTimeoutAction clear", "waits for cgw to initiate"}, nil},
		{"clear after 30 s", awsconf.AWSOptions{DPDTimeoutAction: awsconf.DPDClear, DPDTimeoutS: 30}, false,
			[]string{"DPDTimeoutSeconds 30 s: 20–30 s"}, nil},
		{"restart: AWS initiates again", awsconf.AWSOptions{DPDTimeoutAction: awsconf.DPDRestart, DPDTimeoutS: 45}, false,
			[]string{"DPDTimeoutSeconds 45 s: 35–45 s", "initiates the tunnel again (DPDTimeoutAction restart), which cgw accepts"}, nil},
		{"none: AWS never moves on DPD", awsconf.AWSOptions{DPDTimeoutAction: awsconf.DPDNone}, false,
			[]string{"never moves its return traffic off tunnel 1 on DPD", "cgw deletes a tunnel left 1m0s without a sign of life", "phase 2 lifetime 1800 s"},
			[]string{"declares that tunnel dead"}},
		{"bgp, clear", awsconf.AWSOptions{}, true, []string{"BGP: AWS follows the best path"}, []string{"DPD"}},
		{"bgp, none", awsconf.AWSOptions{DPDTimeoutAction: awsconf.DPDNone}, true,
			[]string{"BGP: AWS follows the best path", "takes no action (DPDTimeoutAction none)", "hold timer"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cn := &connection{
				conn: &awsconf.Connection{Tunnels: []awsconf.Tunnel{{Number: 1, AWS: tc.aws}, {Number: 2}}},
				tunnels: []*tunnel{{number: 1, spec: ike.Tunnel{ChildLife: 1800 * time.Second}},
					{number: 2, spec: ike.Tunnel{ChildLife: 3600 * time.Second}}},
			}
			got := cn.returnPathOf(&failoverRecord{from: 1, to: 2, bgp: tc.bgp})
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("return path lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("return path says %q:\n%s", w, got)
				}
			}
		})
	}
}
