package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// charons is a VICI client per charon of a faithful lab: cgw's and each
// tunnel's AWS endpoint's.
type charons struct {
	cgw *ike.Client
	aws map[int]*ike.Client // by tunnel number (list-sas only: ike names its own connections cgw-…)
}

func dialCharons(t *testing.T, l *lab.Lab) charons {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(h lab.Host) *ike.Client {
		c, err := ike.Dial(ctx, l.VICISocket(h), nil)
		if err != nil {
			t.Fatalf("dialling the charon in %s: %v", h, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	cs := charons{cgw: dial(lab.CGW), aws: map[int]*ike.Client{}}
	for n := 1; n <= 2; n++ {
		cs.aws[n] = dial(l.Endpoint(n))
	}
	return cs
}

// awsName and cgwName are tunnel n's connection (and data child) names on
// the AWS side and in cgw.
func awsName(n int) string { return fmt.Sprintf("tunnel%d", n) }
func cgwName(n int) string { return fmt.Sprintf("cgw-tunnel%d", n) }

// onePair reports, for tunnel n, whether each side has exactly one
// ESTABLISHED IKE_SA with exactly one INSTALLED CHILD_SA, nothing else
// of the tunnel in any state (no exchange under way, nothing being
// deleted), and both sides hold the same CHILD_SA. why says what is not so.
func onePair(ctx context.Context, cs charons, n int) (ok bool, why string, err error) {
	side := func(c *ike.Client, name string) (*ike.ChildSA, string, error) {
		sas, err := c.SAs(ctx)
		if err != nil {
			return nil, "", err
		}
		var mine []ike.IKESA
		for _, sa := range sas {
			if sa.Name == name {
				mine = append(mine, sa)
			}
		}
		if len(mine) != 1 || mine[0].State != "ESTABLISHED" {
			return nil, fmt.Sprintf("%d IKE_SAs %s", len(mine), ikeStates(mine)), nil
		}
		ch := mine[0].Children
		if len(ch) != 1 || ch[0].State != "INSTALLED" {
			return nil, fmt.Sprintf("IKE_SA with %d CHILD_SAs %s", len(ch), ikeStates(mine)), nil
		}
		return &ch[0], "", nil
	}
	c, why, err := side(cs.cgw, cgwName(n))
	if err != nil || c == nil {
		return false, "cgw: " + why, err
	}
	a, why, err := side(cs.aws[n], awsName(n))
	if err != nil || a == nil {
		return false, "aws: " + why, err
	}
	if c.SPIIn != a.SPIOut || c.SPIOut != a.SPIIn {
		return false, fmt.Sprintf("cgw's CHILD_SA %s/%s is not AWS's %s/%s", c.SPIIn, c.SPIOut, a.SPIIn, a.SPIOut), nil
	}
	return true, "", nil
}

// awsCommand runs VICI initiate or terminate for tunnel n on its AWS
// endpoint, like swanctl --initiate/--terminate --ike tunnelN, and waits
// for the result. Either may fail (an initiate that loses to cgw's, a
// terminate of nothing): the caller checks the SAs after.
func awsCommand(t *testing.T, ctx context.Context, l *lab.Lab, n int, cmd string) {
	s, err := vici.NewSession(vici.WithSocketPath(l.VICISocket(l.Endpoint(n))))
	if err != nil {
		t.Errorf("VICI to tunnel %d's AWS endpoint: %v", n, err)
		return
	}
	defer s.Close()
	m := vici.NewMessage()
	_ = m.Set("ike", awsName(n))
	_ = m.Set("timeout", "20000")
	if cmd == "initiate" {
		_ = m.Set("child", awsName(n))
	} else {
		_ = m.Set("force", "yes")
		_ = m.Set("timeout", "3000")
	}
	for _, err := range s.CallStreaming(ctx, cmd, "control-log", m) {
		if err != nil {
			return
		}
	}
}

func ikeStates(sas []ike.IKESA) string {
	var b strings.Builder
	for _, sa := range sas {
		fmt.Fprintf(&b, "[#%d %s initiator=%t", sa.UniqueID, sa.State, sa.Initiator)
		for _, ch := range sa.Children {
			fmt.Fprintf(&b, " child #%d %s", ch.UniqueID, ch.State)
		}
		b.WriteString("]")
	}
	return b.String()
}

// TestAWSInitiatesSimultaneousStart: with StartupAction start (cgwlab up
// --aws-initiates, the lab's describe-vpn-connections download) both the
// AWS endpoints and cgw initiate each tunnel. 20 times, every SA of both
// tunnels is closed on both sides at once and both sides initiate at once:
// the AWS endpoints through VICI (as AWS does for a tunnel that is down
// with StartupAction start), cgw on its own as its loop sees the tunnel
// go down. Each time the test waits (no fixed sleep) until each tunnel has
// exactly one IKE_SA and one CHILD_SA on both sides, the same pair, cgw
// reports both tunnels up, and a ping crosses.
func TestAWSInitiatesSimultaneousStart(t *testing.T) {
	l := labtest.Up(t, lab.Options{TunnelOptions: lab.TunnelOptions{AWSInitiates: true}})
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(cfg.AWSConfig, ".json") {
		t.Fatalf("the lab's cgw.yaml names %s, want the describe-vpn-connections download", cfg.AWSConfig)
	}
	r := runGateway(t, l)
	cs := dialCharons(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	settled := func(round int) {
		t.Helper()
		var why string
		ok := testenv.Wait(60*time.Second, func() bool {
			for n := 1; n <= 2; n++ {
				ok, w, err := onePair(ctx, cs, n)
				if err != nil {
					t.Fatalf("round %d: list-sas: %v", round, err)
				}
				if !ok {
					why = fmt.Sprintf("tunnel %d: %s", n, w)
					return false
				}
			}
			return bothUp(r.g.Status())
		})
		if !ok {
			t.Fatalf("round %d: not one IKE_SA and one CHILD_SA per tunnel on both sides within 60 s: %s", round, why)
		}
	}
	settled(0)
	for n, s := range r.g.Status().Tunnels {
		if s.AWS.StartupAction != "start" {
			t.Errorf("tunnel %d: status says startup action %q, want start", n+1, s.AWS.StartupAction)
		}
	}

	awsFirst := 0
	for round := 1; round <= 20; round++ {
		// Close everything on both sides at once.
		var wg sync.WaitGroup
		for n := 1; n <= 2; n++ {
			wg.Go(func() { _ = cs.cgw.Terminate(ctx, cgwName(n)) })
			wg.Go(func() { awsCommand(t, ctx, l, n, "terminate") })
		}
		wg.Wait()
		// The AWS endpoints initiate at once; cgw's loop does the same as
		// it sees its tunnels down (events, or its next 0.5 s reconcile).
		for n := 1; n <= 2; n++ {
			wg.Go(func() { awsCommand(t, ctx, l, n, "initiate") })
		}
		wg.Wait()
		settled(round)
		for _, s := range r.g.Status().Tunnels {
			if s.AWS.InitiatedBy == "aws" {
				awsFirst++
			}
		}
		if out, ok := labtest.Ping(t, l, 3); !ok {
			t.Fatalf("round %d: no ping across the tunnels:\n%s", round, out)
		}
	}
	dups := strings.Count(r.logs.String(), "closing a duplicate IKE_SA")
	t.Logf("20 rounds × 2 tunnels: %d IKE_SAs kept were AWS's, %d duplicate IKE_SAs closed by cgw", awsFirst, dups)
}
