package ike

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// TestBothInitiate starts one tunnel from both ends at the same moment,
// 20 times, with real charons: cgw's side has the settings of a tunnel AWS
// initiates too (unique = never), the other end plays AWS. Each time, once
// cgw closes what Extras names (as its reconcile loop does), exactly one
// IKE_SA with one CHILD_SA is left, the same pair on both ends. The AWS
// end either deletes nothing itself (never) or replaces (replace); AWS's
// real policy is not documented, and cgw must end with one pair either way.
func TestBothInitiate(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	for _, awsUnique := range []string{"never", "replace"} {
		t.Run("aws unique "+awsUnique, func(t *testing.T) {
			t.Parallel()
			key := testKey()
			cgwT, awsT := testTunnels("cgw-tunnel1", key)
			cgwT.AWSInitiates = true
			awsT.AWSInitiates = awsUnique == "never"
			cgw, cgwLogs, cgwCh, awsCh := testPair(t, awsT)
			aws, _ := dialTest(t, awsCh)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			if err := cgw.Load(ctx, cgwT); err != nil {
				t.Fatal(err)
			}
			duplicated := 0
			for round := range 20 {
				duplicated += bothInitiate(t, ctx, cgw, aws, cgwT.Name)
				if t.Failed() {
					t.Fatalf("round %d\ncgw charon:\n%s\naws charon:\n%s", round+1, cgwCh.log(), awsCh.log())
				}
				for _, c := range []*Client{cgw, aws} {
					if err := c.Terminate(ctx, cgwT.Name); err != nil {
						t.Fatal(err)
					}
				}
				testenv.Eventually(t, 15*time.Second, "no SA left on either end", func() bool {
					return len(established(t, ctx, cgw, cgwT.Name)) == 0 && len(established(t, ctx, aws, cgwT.Name)) == 0
				})
			}
			t.Logf("aws unique=%s: %d of 20 rounds left duplicates for cgw to close", awsUnique, duplicated)
			assertNoKey(t, key, map[string]string{"client log": cgwLogs.String(), "cgw charon log": cgwCh.log(), "aws charon log": awsCh.log()})
		})
	}
}

// bothInitiate initiates name from both ends at once, then closes what
// Extras names on cgw's end, once it has lasted 2 s, until one IKE_SA with
// one CHILD_SA is left on both, the same pair. It returns 1 if there was
// anything to close.
func bothInitiate(t *testing.T, ctx context.Context, cgw, aws *Client, name string) int {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range []*Client{cgw, aws} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_ = c.Initiate(ctx, name, 10*time.Second) // one of the two may lose
		}()
	}
	close(start)
	wg.Wait()
	closed := 0
	var dupSince time.Time
	testenv.Eventually(t, 20*time.Second, "one IKE_SA and one CHILD_SA, the same on both ends", func() bool {
		sas, err := cgw.SAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas {
			if sa.State == "CONNECTING" || sa.State == "CREATED" {
				return false // an exchange still under way
			}
		}
		ikeIDs, childIDs := Extras(sas, name)
		// Like cgw's loop, act only on duplicates that last (here 2 s):
		// the AWS end's own policy may be deleting one right now.
		if len(ikeIDs)+len(childIDs) > 0 {
			if dupSince.IsZero() {
				dupSince = time.Now()
			}
			if time.Since(dupSince) < 2*time.Second {
				return false
			}
			dupSince = time.Time{}
		} else {
			dupSince = time.Time{}
		}
		for _, id := range ikeIDs {
			closed = 1
			if err := cgw.TerminateIKESA(ctx, name, id); err != nil {
				t.Errorf("TerminateIKESA %d: %v", id, err)
			}
		}
		for _, id := range childIDs {
			closed = 1
			if err := cgw.TerminateChildSA(ctx, name, id); err != nil {
				t.Errorf("TerminateChildSA %d: %v", id, err)
			}
		}
		if len(ikeIDs)+len(childIDs) > 0 {
			return false
		}
		c, a := established(t, ctx, cgw, name), established(t, ctx, aws, name)
		if len(c) != 1 || len(a) != 1 || len(c[0].Children) != 1 || len(a[0].Children) != 1 {
			if len(c) == 0 {
				// Both ends lost their SAs (the flap this guards against):
				// cgw's loop would initiate again, but here it is a failure.
				t.Errorf("no IKE_SA left on cgw's end; aws has %d", len(a))
				return true
			}
			return false
		}
		cc, ac := c[0].Children[0], a[0].Children[0]
		if cc.SPIIn != ac.SPIOut || cc.SPIOut != ac.SPIIn {
			t.Errorf("cgw's child %s/%s is not aws's %s/%s", cc.SPIIn, cc.SPIOut, ac.SPIIn, ac.SPIOut)
		}
		return true
	})
	return closed
}

// established is the ESTABLISHED IKE_SAs of name, each with only its
// INSTALLED children.
func established(t *testing.T, ctx context.Context, c *Client, name string) []IKESA {
	t.Helper()
	sas, err := c.SAs(ctx)
	if err != nil {
		t.Fatal(fmt.Errorf("list-sas: %w", err))
	}
	var out []IKESA
	for _, sa := range sas {
		if sa.Name != name || sa.State != "ESTABLISHED" {
			continue
		}
		var kids []ChildSA
		for _, ch := range sa.Children {
			if ch.State == "INSTALLED" {
				kids = append(kids, ch)
			}
		}
		sa.Children = kids
		out = append(out, sa)
	}
	return out
}
