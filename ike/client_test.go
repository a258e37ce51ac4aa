package ike

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// dialFake dials a Client to a fake charon answering with h (version is
// answered for it).
func dialFake(t *testing.T, h fakeHandler) (*Client, *fakeCharon) {
	t.Helper()
	f := newFakeCharon(func(cmd string, req []kv) ([]fakeEvent, []kv) {
		if cmd == "version" {
			return nil, []kv{{"daemon", "charon"}, {"version", "5.9.8"}}
		}
		return h(cmd, req)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "fake", nil, f.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); f.kill() })
	return c, f
}

// TestInitiateKeepsEveryLogLine sends many control-log events right
// before the response: all of them, in order, must reach the *Error
// (govici's CallStreaming could drop the tail).
func TestInitiateKeepsEveryLogLine(t *testing.T) {
	var want []string
	for i := range 300 {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	want = append(want, "received AUTHENTICATION_FAILED notify error")
	c, _ := dialFake(t, func(cmd string, req []kv) ([]fakeEvent, []kv) {
		if cmd != "initiate" || get(req, "child") != "cgw-tunnel1" || get(req, "timeout") != "5000" {
			return nil, nil
		}
		var evs []fakeEvent
		for _, l := range want {
			evs = append(evs, fakeEvent{"control-log", []kv{{"group", "IKE"}, {"level", "1"}, {"msg", l}}})
		}
		return evs, []kv{{"success", "no"}, {"errmsg", "establishing CHILD_SA 'cgw-tunnel1' failed"}}
	})
	for range 5 {
		err := c.Initiate(context.Background(), "cgw-tunnel1", 5*time.Second)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Initiate = %v, want *Error", err)
		}
		if diff := cmp.Diff(want, e.Log); diff != "" {
			t.Fatalf("log lines (-want +got):\n%s", diff)
		}
		if e.Reason != ReasonAuthFailed || e.Message != "establishing CHILD_SA 'cgw-tunnel1' failed" {
			t.Errorf("Error = %+v", e)
		}
	}
}

func TestInitiateSuccessAndNames(t *testing.T) {
	c, _ := dialFake(t, func(cmd string, req []kv) ([]fakeEvent, []kv) {
		return []fakeEvent{{"control-log", []kv{{"msg", "CHILD_SA cgw-tunnel1{1} established"}}}}, []kv{{"success", "yes"}}
	})
	if err := c.Initiate(context.Background(), "cgw-tunnel1", time.Second); err != nil {
		t.Errorf("Initiate = %v", err)
	}
	for _, f := range []func() error{
		func() error { return c.Initiate(context.Background(), "tunnel1", time.Second) },
		func() error { return c.Terminate(context.Background(), "other") },
		func() error { return c.Unload(context.Background(), "") },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), `must start with "cgw-"`) {
			t.Errorf("a name without the prefix: %v", err)
		}
	}
}

func TestSAsKeepsEverySA(t *testing.T) {
	c, _ := dialFake(t, func(cmd string, _ []kv) ([]fakeEvent, []kv) {
		if cmd != "list-sas" {
			return nil, nil
		}
		var evs []fakeEvent
		for i := range 200 {
			evs = append(evs, fakeEvent{"list-sa", []kv{{fmt.Sprintf("cgw-t%d", i), []kv{
				{"uniqueid", fmt.Sprint(i)}, {"state", "ESTABLISHED"},
				{"child-sas", []kv{{"cgw-t-1", []kv{{"name", "cgw-t"}, {"state", "INSTALLED"}, {"local-ts", []string{"10.1.0.0/24"}}}}}},
			}}}})
		}
		return evs, []kv{}
	})
	sas, err := c.SAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 200 {
		t.Fatalf("%d SAs, want 200", len(sas))
	}
	for i, sa := range sas {
		if sa.Name != fmt.Sprintf("cgw-t%d", i) || sa.UniqueID != uint32(i) || len(sa.Children) != 1 ||
			sa.Children[0].Name != "cgw-t" || sa.Children[0].LocalTS[0] != "10.1.0.0/24" {
			t.Fatalf("SA %d = %+v", i, sa)
		}
	}
}

func TestTerminateAndUnknownCommands(t *testing.T) {
	c, _ := dialFake(t, func(cmd string, req []kv) ([]fakeEvent, []kv) {
		switch cmd {
		case "terminate":
			switch get(req, "ike") {
			case "cgw-gone":
				return nil, []kv{{"success", "no"}, {"errmsg", "no matching SAs to terminate found"}}
			case "cgw-rekeyed", "cgw-stuck":
				return nil, []kv{{"success", "no"}, {"errmsg", "not all matching SAs could be terminated"}}
			}
			if get(req, "force") != "yes" || get(req, "timeout") != "3000" {
				return nil, []kv{{"success", "no"}, {"errmsg", "bad request"}}
			}
			return nil, []kv{{"success", "yes"}}
		case "get-conns":
			return nil, []kv{{"conns", []string{"cgw-tunnel1", "other"}}}
		case "list-sas":
			return []fakeEvent{
				{"list-sa", []kv{{"cgw-rekeyed", []kv{{"state", "DELETING"}}}}},
				{"list-sa", []kv{{"cgw-stuck", []kv{{"state", "ESTABLISHED"}}}}},
			}, []kv{}
		}
		return nil, nil
	})
	ctx := context.Background()
	if err := c.Terminate(ctx, "cgw-tunnel1"); err != nil {
		t.Errorf("Terminate = %v", err)
	}
	if err := c.Terminate(ctx, "cgw-gone"); err != nil {
		t.Errorf("Terminate of no SA = %v, want nil", err)
	}
	if err := c.Terminate(ctx, "cgw-rekeyed"); err != nil {
		t.Errorf("Terminate leaving only a DELETING SA = %v, want nil", err)
	}
	if err := c.Terminate(ctx, "cgw-stuck"); err == nil {
		t.Error("Terminate leaving an ESTABLISHED SA: no error")
	}
	conns, err := c.Conns(ctx)
	if err != nil || !cmp.Equal(conns, []string{"cgw-tunnel1", "other"}) {
		t.Errorf("Conns = %q, %v", conns, err)
	}
	// get-shared is unknown to this fake: Unload reports it.
	if err := c.Unload(ctx, "cgw-nothing"); err == nil {
		t.Error("Unload with get-shared unknown: no error")
	}
}

func TestEventsAndCharonGone(t *testing.T) {
	c, f := dialFake(t, func(string, []kv) ([]fakeEvent, []kv) { return nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the subscription to be in place, then push.
	deadline := time.Now().Add(2 * time.Second)
	var got Event
	for got.Type == "" && time.Now().Before(deadline) {
		f.push(fakeEvent{"child-updown", []kv{{"up", "yes"}, {"cgw-tunnel1", []kv{{"state", "ESTABLISHED"},
			{"child-sas", []kv{{"cgw-tunnel1-1", []kv{{"name", "cgw-tunnel1"}, {"state", "INSTALLED"}}}}}}}}})
		select {
		case got = <-events:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got.Type != EventChildUpDown || !got.Up || got.SA.Name != "cgw-tunnel1" || len(got.SA.Children) != 1 {
		t.Fatalf("event = %+v", got)
	}

	f.kill()
	for range events {
	}
	if _, err := c.Version(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Version after kill = %v, want ErrClosed", err)
	}
	if err := c.Initiate(ctx, "cgw-tunnel1", time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Initiate after kill = %v, want ErrClosed", err)
	}
	if _, err := c.Events(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after kill = %v, want ErrClosed", err)
	}
	if _, err := dial(ctx, "fake", nil, f.dial); !errors.Is(err, ErrClosed) {
		t.Errorf("dial after kill = %v, want ErrClosed", err)
	}
}
