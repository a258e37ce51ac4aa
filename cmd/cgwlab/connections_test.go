package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/testenv"
)

func TestConnectionFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		conn int
		want string
		err  bool
	}{
		{"silence-tunnel1", 0, "silence-tunnel1", false},
		{"block-natt", 0, "block-natt", false},
		{"silence-tunnel3", 0, "silence-tunnel3", false},
		{"silence-tunnel1", 1, "silence-tunnel1", false},
		{"silence-tunnel1", 2, "silence-tunnel3", false},
		{"silence-tunnel2", 2, "silence-tunnel4", false},
		{"silence-tunnel3", 2, "", true},
		{"block-natt", 2, "", true},
		{"silence-tunnel1", 3, "silence-tunnel5", false},
		{"silence-tunnel2", 3, "silence-tunnel6", false},
		{"silence-tunnel1", 4, "silence-tunnel7", false},
		{"silence-tunnel2", 4, "silence-tunnel8", false},
		{"silence-tunnel8", 0, "silence-tunnel8", false},
		{"silence-tunnel1", 5, "", true},
		{"silence-tunnel1", -1, "", true},
		{"silence-tunnel5", 3, "", true},
	} {
		got, err := connectionFault(tc.name, tc.conn)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("connectionFault(%q, %d) = %q, %v; want %q (error %v)", tc.name, tc.conn, got, err, tc.want, tc.err)
		}
	}
}

// TestUpConnectionsFlag: --connections beyond what the lab builds is
// refused before anything is built (no root needed), naming the flags.
func TestUpConnectionsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in the error, "" for none
	}{
		{[]string{"--connections", "0"}, []string{"--connections 0", "want 1 to 4"}},
		{[]string{"--connections", "5"}, []string{"--connections 5", "want 1 to 4"}},
		{[]string{"--connections", "3", "--dataplane", "kernel", "--tgw", "--bgp"}, []string{"--connections 3", "--dataplane kernel", "at most 2"}},
		{[]string{"--connections", "4", "--dataplane", "kernel"}, []string{"--connections 4", "--dataplane libipsec"}},
	} {
		_, _, err := cgwlab(t, append([]string{"up", "--name", "scbad"}, tc.args...)...)
		if err == nil {
			t.Errorf("up %v succeeded", tc.args)
			_ = lab.Down("scbad", "")
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("up %v: %v; want %q in it", tc.args, err, w)
			}
		}
	}
	for _, n := range []int{1, 2, 3, 4} {
		if err := checkConnectionsFlag(lab.Options{Connections: n}); err != nil {
			t.Errorf("libipsec, %d connections: %v", n, err)
		}
	}
	if err := checkConnectionsFlag(lab.Options{Connections: 2, Dataplane: lab.DataplaneKernel}); err != nil {
		t.Errorf("kernel, 2 connections: %v", err)
	}
}

// TestFaultNames: every silence-tunnelN of a four-connection lab is a
// fault name the command accepts (as a valid argument for completion).
func TestFaultNames(t *testing.T) {
	cmd := newFaultCmd(&labFlags{})
	for n := 1; n <= 2*lab.MaxConnections; n++ {
		name := fmt.Sprintf("silence-tunnel%d", n)
		if !slices.Contains(cmd.ValidArgs, name) || !slices.Contains(lab.FaultNames(), name) {
			t.Errorf("%s is not a fault name", name)
		}
	}
	if !strings.Contains(cmd.Long, "silence-tunnel8") {
		t.Errorf("fault's help does not name silence-tunnel8:\n%s", cmd.Long)
	}
}

// TestConnectionsCommands: `up --connections 2` prints connection 2's
// files and keeps both gateways' return paths with the detached watcher;
// `status --connection 2` shows connection 2 alone; `fault --connection 2
// silence-tunnel1` silences tunnel 3; --tgw without --bgp is refused.
func TestConnectionsCommands(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwc" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, "") })

	for _, args := range [][]string{
		{"up", "--name", name, "--connections", "2", "--tgw"},
		{"up", "--name", name, "--connections", "5"},
		{"up", "--name", name, "--connections", "2", "--tunnels", "1"},
	} {
		if _, _, err := cgwlab(t, args...); err == nil {
			t.Errorf("%v succeeded", args)
			_ = lab.Down(name, "")
		}
	}
	out, _, err := cgwlab(t, "up", "--name", name, "--connections", "2")
	if err != nil {
		t.Fatalf("up --connections 2: %v", err)
	}
	for _, want := range []string{"generic\t/run/cgwlab/" + name + "/generic.txt\n", "conn2-generic\t/run/cgwlab/" + name + "/conn2/generic.txt\n", "aws4-vici\t"} {
		if !strings.Contains(out, want) {
			t.Errorf("up printed %q, want %q in it", out, want)
		}
	}
	if _, _, err := cgwlab(t, "initiate", "--name", name); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	status := func(args ...string) lab.Status {
		out, _, err := cgwlab(t, append([]string{"status", "--name", name, "--json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var st lab.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := testenv.WaitValue(t, 20*time.Second, "both gateways' return paths", func() (lab.Status, error) { return status(), nil },
		func(st lab.Status) bool {
			return len(st.ReturnPaths) == 2 && st.ReturnPaths[0].Tunnel == 1 && st.ReturnPaths[1].Tunnel == 3
		})
	if st.Connections != 2 || len(st.Tunnels) != 4 || st.WatcherPID == 0 {
		t.Errorf("status %+v", st)
	}
	c2 := status("--connection", "2")
	if len(c2.Tunnels) != 2 || c2.Tunnels[0].Number != 3 || c2.ReturnPath == nil || c2.ReturnPath.Gateway != lab.VGW2 || c2.ReturnPaths != nil {
		t.Errorf("status --connection 2: %+v", c2)
	}
	if out, _, err := cgwlab(t, "status", "--name", name); err != nil || !strings.Contains(out, "tunnel 3 (connection 2 tunnel 1)") ||
		!strings.Contains(out, "return path vgw2 (connection [2])") {
		t.Errorf("status: %v\n%s", err, out)
	} else {
		t.Logf("status:\n%s", out)
	}
	if _, _, err := cgwlab(t, "status", "--name", name, "--connection", "3"); err == nil {
		t.Error("status --connection 3 succeeded")
	}
	if out, _, err := cgwlab(t, "exec", "--name", name, "onprem", "--", "ping", "-c", "1", "-w", "10", lab.VPC2Host); err != nil {
		t.Errorf("exec ping %s: %v %s", lab.VPC2Host, err, out)
	}
	if _, _, err := cgwlab(t, "fault", "--name", name, "--connection", "2", "silence-tunnel1", "on"); err != nil {
		t.Fatalf("fault: %v", err)
	}
	if f := status().Faults; !slices.Equal(f, []string{lab.FaultSilenceTunnel3}) {
		t.Errorf("faults %v, want %s", f, lab.FaultSilenceTunnel3)
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
}

// TestTGWCommands: `up --connections 2 --tgw --bgp` and `initiate
// --bgp-speaker` give a transit gateway whose return path is ECMP over
// all four tunnels, as status shows.
func TestTGWCommands(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwc" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, "") })
	if _, errOut, err := cgwlab(t, "up", "--name", name, "--connections", "2", "--tgw", "--bgp"); err != nil {
		t.Fatalf("up: %v", err)
	} else if !strings.Contains(errOut, "transit gateway") {
		t.Errorf("up said %q", errOut)
	}
	if _, _, err := cgwlab(t, "initiate", "--name", name, "--bgp-speaker"); err != nil {
		t.Fatalf("initiate --bgp-speaker: %v", err)
	}
	st := testenv.WaitValue(t, 90*time.Second, "ECMP over four tunnels", func() (lab.Status, error) {
		out, _, err := cgwlab(t, "status", "--name", name, "--json")
		var st lab.Status
		if err == nil {
			err = json.Unmarshal([]byte(out), &st)
		}
		return st, err
	}, func(st lab.Status) bool {
		return st.ReturnPath != nil && slices.Equal(st.ReturnPath.Tunnels, []int{1, 2, 3, 4})
	})
	if !st.TGW || st.Connections != 2 {
		t.Errorf("status %+v", st)
	}
	if out, _, err := cgwlab(t, "status", "--name", name); err != nil || !strings.Contains(out, "tunnels [1 2 3 4] (ECMP)") {
		t.Errorf("status: %v\n%s", err, out)
	}
	if _, _, err := cgwlab(t, "initiate", "--name", name, "--reset"); err != nil {
		t.Fatalf("initiate --reset: %v", err)
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
}
