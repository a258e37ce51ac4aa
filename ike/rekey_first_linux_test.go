package ike

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestCgwRekeysFirst runs a tunnel with lab lifetimes (IKE 60 s, CHILD 30
// s) against a charon that rekeys as AWS says it does (rekey margin 5 s,
// fuzz 100 %: the CHILD_SA from 20 s of age on, the IKE_SA from 50 s on).
// cgw's spec, from TunnelFromAWS, rekeys first every time: the AWS end's
// CHILD_SA never reaches the age at which it would rekey, both ends keep
// one IKE_SA and one CHILD_SA, and the IKE_SA is rekeyed too.
func TestCgwRekeysFirst(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	key := testKey()
	ini, resp := testTunnels("cgw-tunnel1", key)
	fuzz := 100
	in := awsconf.Tunnel{
		Number: 1, CustomerOutside: netip.MustParseAddr("192.0.2.1"), AWSOutside: netip.MustParseAddr("192.0.2.2"),
		PSK:   awsconf.NewPSK(key),
		IKE:   awsconf.IKE{Versions: []int{2}, Encryption: []string{"AES256"}, Integrity: []string{"SHA2-256"}, DHGroups: []int{14}, LifetimeS: 60},
		IPsec: awsconf.IPsec{Encryption: []string{"AES256"}, Integrity: []string{"SHA2-256"}, PFSGroups: []int{14}, LifetimeS: 30},
		AWS:   awsconf.AWSOptions{RekeyMarginS: 5, RekeyFuzzPercent: &fuzz},
	}
	spec, err := TunnelFromAWS("cgw-tunnel1", in, awsconf.ProfileTunnelOptions, Params{LocalAddr: ini.LocalAddr, LocalTS: ini.LocalTS, RemoteTS: ini.RemoteTS})
	if err != nil {
		t.Fatal(err)
	}
	spec.IKEProposals, spec.ESPProposals = ini.IKEProposals, ini.ESPProposals // what both test charons have
	// AWS's end: rekey at lifetime − margin − random(margin × fuzz).
	resp.IKERekey, resp.IKERand, resp.IKELife = 55*time.Second, 5*time.Second, 60*time.Second
	resp.ChildRekey, resp.ChildRand, resp.ChildLife = 25*time.Second, 5*time.Second, 30*time.Second
	const awsEarliestChild = 20 * time.Second

	cgw, logs, cgwCh, awsCh := testPair(t, resp)
	aws, _ := dialTest(t, awsCh)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	events, err := cgw.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cgw.Load(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := cgw.Initiate(ctx, spec.Name, 10*time.Second); err != nil {
		t.Fatalf("Initiate: %v\n%s", err, awsCh.log())
	}

	var oldest atomic.Int64 // the greatest age seen of the AWS end's CHILD_SA
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			sas, _ := aws.SAs(ctx) // fails only once ctx ends
			for _, sa := range sas {
				for _, c := range sa.Children {
					if sa.Name == spec.Name && c.State == "INSTALLED" && int64(c.InstallTime) > oldest.Load() {
						oldest.Store(int64(c.InstallTime))
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	childRekeys, ikeRekeys := 0, 0
	for childRekeys < 2 || ikeRekeys < 1 {
		select {
		case e := <-events:
			switch e.Type {
			case EventChildRekey:
				childRekeys++
			case EventIKERekey:
				ikeRekeys++
			}
		case <-ctx.Done():
			t.Fatalf("%d CHILD_SA and %d IKE_SA rekeys before the deadline\n%s", childRekeys, ikeRekeys, cgwCh.log())
		}
	}
	testenv.Eventually(t, 20*time.Second, "one IKE_SA with one CHILD_SA on both ends", func() bool {
		c, a := established(t, ctx, cgw, spec.Name), established(t, ctx, aws, spec.Name)
		return len(c) == 1 && len(a) == 1 && len(c[0].Children) == 1 && len(a[0].Children) == 1
	})
	cancel()
	<-done
	if got := time.Duration(oldest.Load()); got >= awsEarliestChild {
		t.Errorf("the AWS end's CHILD_SA reached %v, the age from which AWS rekeys (%v): cgw did not rekey first\ncgw charon:\n%s", got, awsEarliestChild, cgwCh.log())
	}
	t.Logf("%d CHILD_SA and %d IKE_SA rekeys; the AWS end's CHILD_SA at most %v old (AWS rekeys from %v)", childRekeys, ikeRekeys, time.Duration(oldest.Load()), awsEarliestChild)
	assertNoKey(t, key, map[string]string{"client log": logs.String(), "cgw charon log": cgwCh.log(), "aws charon log": awsCh.log()})
}
