package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/testenv"
)

func TestBGPCommands(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwc" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, "") })

	if _, errOut, err := cgwlab(t, "up", "--name", name, "--bgp"); err != nil {
		t.Fatalf("up --bgp: %v", err)
	} else if !strings.Contains(errOut, "cgwlab bgp status") {
		t.Errorf("up --bgp said %q", errOut)
	}
	for _, args := range [][]string{
		{"bgp", "announce", "10.10.200.0/24"},
		{"bgp", "withdraw", "10.10.200.0/24"},
		{"bgp", "announce", "10.10.201.0/24"},
		{"bgp", "med", "2", "50"},
		{"bgp", "med", "1", "none"},
		{"bgp", "session", "1", "down"},
		{"bgp", "session", "1", "up"},
		{"bgp", "restart"},
	} {
		if _, _, err := cgwlab(t, append(args, "--name", name)...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	for _, args := range [][]string{
		{"bgp", "announce", "10.10.200.1/24"},
		{"bgp", "announce", "bogus"},
		{"bgp", "med", "3", "1"},
		{"bgp", "med", "1", "-5"},
		{"bgp", "session", "3", "down"},
		{"bgp", "session", "1", "sideways"},
	} {
		if _, _, err := cgwlab(t, append(args, "--name", name)...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	out, _, err := cgwlab(t, "bgp", "status", "--json", "--name", name)
	if err != nil {
		t.Fatal(err)
	}
	var st lab.BGPStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.ASN != lab.AWSASN || strings.Join(st.Announced, " ") != "10.10.100.0/24 10.10.201.0/24" ||
		st.MEDs[2] != 50 || len(st.Neighbors) != 2 || len(st.PathsTo("10.10.201.0/24")) != 1 {
		t.Errorf("bgp status --json: %+v", st)
	}
	if out, _, err := cgwlab(t, "bgp", "status", "--name", name); err != nil || !strings.Contains(out, "AWS side bgpd: AS 64512") {
		t.Errorf("bgp status: %v\n%s", err, out)
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !isGone(st.PID) {
		t.Errorf("bgpd %d still runs after down", st.PID)
	}
}

// isGone reports whether pid is no longer a live bgpd.
func isGone(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return true
	}
	return exe != lab.BGPDPath
}
