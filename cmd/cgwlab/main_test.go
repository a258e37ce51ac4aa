package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/testenv"
)

func TestPrintStatus(t *testing.T) {
	st := lab.Status{
		Name: "cgwlab", Dir: "/run/cgwlab/cgwlab", IKEVersion: 2,
		Namespaces: []lab.NamespaceStatus{{Host: lab.VPC, Namespace: "cgwlab-vpc", Exists: true}, {Host: lab.AWS, Namespace: "cgwlab-aws"}},
		Charons:    []lab.CharonStatus{{Host: lab.AWS, PID: 10, Alive: true, VICI: "/a.vici"}},
		Tunnels: []lab.TunnelStatus{{Number: 1, AWSOutside: "203.0.113.10", AWSInside: "169.254.10.1/30",
			CustomerInside: "169.254.10.2/30", IKESAs: 1, ChildSAs: 1, RemoteHost: "198.51.100.50"}},
		Faults: []string{"block-natt"},
		Files:  lab.Files{Generic: "/g", XML: "/x", JSON: "/j", Config: "/c"},
	}
	var b bytes.Buffer
	if err := printStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `lab         cgwlab (IKEv2)  /run/cgwlab/cgwlab
namespaces  cgwlab-vpc cgwlab-aws (missing)
charon aws  pid 10 running                                               /a.vici
tunnel 1    203.0.113.10 inside aws 169.254.10.1/30 cgw 169.254.10.2/30  1 IKE_SA, 1 CHILD_SA from 198.51.100.50
faults      block-natt
files       /g /x /j /c
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	st.Dataplane, st.AWSRoute = lab.DataplaneKernel, "172.31.16.0/20 dev xfrm1"
	b.Reset()
	if err := printStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want = `lab         cgwlab (IKEv2, kernel data plane)  /run/cgwlab/cgwlab
namespaces  cgwlab-vpc cgwlab-aws (missing)
charon aws  pid 10 running                                               /a.vici
tunnel 1    203.0.113.10 inside aws 169.254.10.1/30 cgw 169.254.10.2/30  1 IKE_SA, 1 CHILD_SA from 198.51.100.50
aws route   172.31.16.0/20 dev xfrm1
faults      block-natt
files       /g /x /j /c
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("kernel-mode status (-want +got):\n%s", diff)
	}
}

// TestMain lets the test binary stand in for cgwlab where cgwlab starts
// itself again: as the detached `vgw-watch` and `ec2-api` processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "vgw-watch" || os.Args[1] == "ec2-api") {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cgwlab runs the command tree with args, returning stdout and stderr.
func cgwlab(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestCommands(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwc" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, "") })

	out, _, err := cgwlab(t, "up", "--name", name, "--tunnels", "1")
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if !strings.Contains(out, "generic\t/run/cgwlab/"+name+"/generic.txt\n") {
		t.Errorf("up printed %q", out)
	}
	if _, _, err := cgwlab(t, "up", "--name", name); err == nil || !strings.Contains(err.Error(), "cgwlab down --name "+name) {
		t.Errorf("a second up: %v", err)
	}
	if _, _, err := cgwlab(t, "initiate", "--name", name); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	// -w 10: one reply within 10 s. The AWS side's return route follows
	// the new SA a moment after initiate returns (its watcher sees the
	// SA come up), as a real AWS tunnel turns UP a moment later.
	if out, _, err := cgwlab(t, "exec", "--name", name, "onprem", "--", "ping", "-c", "1", "-w", "10", lab.VPCHost); err != nil {
		t.Errorf("exec ping: %v %s", err, out)
	}
	if _, _, err := cgwlab(t, "fault", "--name", name, "drop-icmp-vpc", "on"); err != nil {
		t.Fatalf("fault: %v", err)
	}
	if _, _, err := cgwlab(t, "fault", "--name", name, "drop-icmp-vpc", "maybe"); err == nil {
		t.Error("fault accepted a state that is neither on nor off")
	}
	out, _, err = cgwlab(t, "status", "--name", name, "--json")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st lab.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"drop-icmp-vpc"}, st.Faults); diff != "" {
		t.Errorf("faults (-want +got):\n%s", diff)
	}
	if len(st.Tunnels) != 1 || st.Tunnels[0].ChildSAs != 1 {
		t.Errorf("tunnels %+v, want one with a CHILD_SA", st.Tunnels)
	}
	if psk := readPSK(t, st.Files.XML); strings.Contains(out, psk) {
		t.Error("status --json shows the pre-shared key")
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, _, err := cgwlab(t, "status", "--name", name); err == nil || !strings.Contains(err.Error(), "not up") {
		t.Errorf("status after down: %v", err)
	}
}

// readPSK returns the first key in an XML download.
func readPSK(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "<pre_shared_key>")
	k, _, _ := strings.Cut(rest, "</pre_shared_key>")
	if len(k) < 8 {
		t.Fatalf("no key in %s", path)
	}
	return k
}

// TestAWSSideFlags: --aws-prefer 2 puts the static return path on tunnel
// 2, kept by a detached vgw-watch that down stops; --aws-side newest-sa
// builds the one-charon side; bad values are refused.
func TestAWSSideFlags(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwc" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, ""); _ = lab.Down(name+"n", "") })

	for _, args := range [][]string{
		{"up", "--name", name, "--aws-side", "bogus"},
		{"up", "--name", name, "--aws-prefer", "3"},
		{"up", "--name", name, "--aws-prefer", "2", "--tunnels", "1"},
		{"up", "--name", name, "--aws-prefer", "2", "--aws-side", "newest-sa"},
	} {
		if _, _, err := cgwlab(t, args...); err == nil {
			t.Errorf("%v succeeded", args)
			_ = lab.Down(name, "")
		}
	}
	out, errOut, err := cgwlab(t, "up", "--name", name, "--aws-prefer", "2")
	if err != nil {
		t.Fatalf("up --aws-prefer 2: %v", err)
	}
	if !strings.Contains(out, "aws1-vici\t") || !strings.Contains(out, "aws2-vici\t") || !strings.Contains(errOut, "over tunnel 2") {
		t.Errorf("up printed %q and %q", out, errOut)
	}
	if _, _, err := cgwlab(t, "initiate", "--name", name); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	st := testenv.WaitValue(t, 15*time.Second, "the return path on tunnel 2", func() (lab.Status, error) {
		out, _, err := cgwlab(t, "status", "--name", name, "--json")
		var st lab.Status
		if err == nil {
			err = json.Unmarshal([]byte(out), &st)
		}
		return st, err
	}, func(st lab.Status) bool { return st.ReturnPath != nil && st.ReturnPath.Tunnel == 2 })
	if st.AWSSide != lab.AWSFaithful || st.WatcherPID == 0 || !alive(st.WatcherPID) {
		t.Errorf("status: side %q, watcher %d (alive %v)", st.AWSSide, st.WatcherPID, alive(st.WatcherPID))
	}
	if out, _, err := cgwlab(t, "status", "--name", name); err != nil || !strings.Contains(out, "return path") || !strings.Contains(out, "tunnel 2 since ") {
		t.Errorf("status: %v\n%s", err, out)
	} else {
		t.Logf("status:\n%s", out)
	}
	if _, _, err := cgwlab(t, "exec", "--name", name, "aws1", "--", "true"); err != nil {
		t.Errorf("exec in aws1: %v", err)
	}
	if _, _, err := cgwlab(t, "exec", "--name", name, "aws", "--", "true"); err == nil || !strings.Contains(err.Error(), "vgw") {
		t.Errorf("exec in aws on the faithful side: %v, want an error listing the lab's hosts", err)
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
	if alive(st.WatcherPID) {
		t.Errorf("the watcher %d still runs after down", st.WatcherPID)
	}

	if _, _, err := cgwlab(t, "up", "--name", name+"n", "--aws-side", "newest-sa", "--tunnels", "1"); err != nil {
		t.Fatalf("up --aws-side newest-sa: %v", err)
	}
	out, _, err = cgwlab(t, "status", "--name", name+"n", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var n lab.Status
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatal(err)
	}
	if n.AWSSide != lab.AWSNewestSA || n.WatcherPID != 0 || len(n.Charons) != 2 || n.Charons[0].Host != lab.AWS {
		t.Errorf("newest-sa status: %+v", n)
	}
	if _, _, err := cgwlab(t, "down", "--name", name+"n"); err != nil {
		t.Fatalf("down: %v", err)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}
