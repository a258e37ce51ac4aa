package lab

import (
	"os"
	"testing"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/google/go-cmp/cmp"
)

// TestImporterReadsDownloads checks that cgw's importer reads the files
// the lab writes as it would read AWS's.
func TestImporterReadsDownloads(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{})
	for _, tc := range []struct {
		name, path string
		format     awsconf.Format
		mtu        int
		versions   []int
	}{
		{"generic", l.GenericFile(), awsconf.FormatGeneric, 1436, []int{2}},
		{"xml", l.XMLFile(), awsconf.FormatXML, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := awsconf.Parse(tc.path, data)
			if err != nil {
				t.Fatalf("awsconf.Parse: %v", err)
			}
			if c.Format != tc.format || c.Routing != awsconf.RoutingStatic || c.VPNConnectionID != l.st.VPNConnectionID {
				t.Errorf("format %q routing %q id %q, want %q static %q", c.Format, c.Routing, c.VPNConnectionID, tc.format, l.st.VPNConnectionID)
			}
			if len(c.Tunnels) != len(l.st.Tunnels) {
				t.Fatalf("%d tunnels, want %d", len(c.Tunnels), len(l.st.Tunnels))
			}
			for i, want := range l.st.Tunnels {
				got := c.Tunnels[i]
				type view struct {
					CustomerOutside, AWSOutside string
					CustomerInside, AWSInside   string
					MTU, TCPMSS                 int
					IKEVersions                 []int
					IKELifetime, IPsecLifetime  int
				}
				w := view{ElasticIP, want.AWSOutside, want.CustomerInside, want.AWSInside,
					tc.mtu, 1379, tc.versions, 28800, 3600}
				g := view{got.CustomerOutside.String(), got.AWSOutside.String(), got.CustomerInside.String(), got.AWSInside.String(),
					got.MTU, got.TCPMSS, got.IKE.Versions, got.IKE.LifetimeS, got.IPsec.LifetimeS}
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("tunnel %d (-want +got):\n%s", i+1, diff)
				}
				if !got.PSK.Equal(awsconf.NewPSK(want.PSK)) {
					t.Errorf("tunnel %d: the key differs", i+1)
				}
			}
		})
	}
}
