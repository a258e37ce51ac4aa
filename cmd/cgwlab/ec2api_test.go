package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestEC2APICommand: `cgwlab ec2-api` starts the fake EC2 API in the
// background, reachable on 127.0.0.1 in the cgw namespace through the
// environment file it prints; its route table follows `cgwlab fault
// vpc-route-table on|off`; a second run finds the running one; down stops
// it.
func TestEC2APICommand(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "cgwe" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = lab.Down(name, "") })
	if _, _, err := cgwlab(t, "up", "--name", name, "--tunnels", "1"); err != nil {
		t.Fatalf("up: %v", err)
	}
	out, _, err := cgwlab(t, "ec2-api", "--name", name)
	if err != nil {
		t.Fatalf("ec2-api: %v", err)
	}
	envFile := strings.TrimSpace(out)
	env := readEnv(t, envFile)
	for _, k := range []string{"AWS_ENDPOINT_URL_EC2", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		if env[k] == "" {
			t.Errorf("%s sets no %s", envFile, k)
		}
	}
	u, err := url.Parse(env["AWS_ENDPOINT_URL_EC2"])
	if err != nil || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("endpoint %q, want http://127.0.0.1:PORT", env["AWS_ENDPOINT_URL_EC2"])
	}
	if again, _, err := cgwlab(t, "ec2-api", "--name", name); err != nil || strings.TrimSpace(again) != envFile {
		t.Errorf("a second ec2-api: %q, %v; want %s again", again, err, envFile)
	}
	ns := name + "-" + string(lab.CGW)
	if _, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		t.Errorf("the fake EC2 API answers on %s outside the cgw namespace", u.Host)
	}
	routes := func() string { return ec2Call(t, ns, u.Host, "DescribeRouteTables") }
	if r := routes(); !strings.Contains(r, lab.OnPremNetwork) {
		t.Fatalf("healthy route table without %s:\n%s", lab.OnPremNetwork, r)
	}
	for _, on := range []string{"on", "off"} {
		if _, _, err := cgwlab(t, "fault", "--name", name, lab.FaultVPCRouteTable, on); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(routes(), lab.OnPremNetwork); got != (on == "off") {
			t.Errorf("fault %s %s: route table has the route to %s: %v", lab.FaultVPCRouteTable, on, lab.OnPremNetwork, got)
		}
	}
	xml, err := os.ReadFile(filepath.Join("/run/cgwlab", name, "vpn-connection.xml"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(xml), `<vpn_connection id="`)
	id, _, _ := strings.Cut(rest, `"`)
	if v := ec2Call(t, ns, u.Host, "DescribeVpnConnections"); id == "" || !strings.Contains(v, "<vpnConnectionId>"+id+"</vpnConnectionId>") {
		t.Errorf("DescribeVpnConnections does not show the lab's connection %q", id)
	}

	pidFile := filepath.Join("/run/cgwlab", name, "ec2api", "pid.json")
	pb, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscanf(strings.TrimPrefix(string(pb), `{"pid":`), "%d", &pid); err != nil || pid <= 0 {
		t.Fatalf("%s: %q", pidFile, pb)
	}
	if _, _, err := cgwlab(t, "down", "--name", name); err != nil {
		t.Fatalf("down: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, "the fake EC2 API to stop after down", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return err != nil
	})
}

// readEnv reads KEY=VALUE lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = v
		}
	}
	return env
}

// ec2Call posts one signed-looking EC2 Query API request to host from
// inside namespace ns (the dial is made on the namespace's thread) and
// returns the body.
func ec2Call(t *testing.T, ns, host, action string) string {
	t.Helper()
	var conn net.Conn
	if err := netnsrun.Named(ns, func() (err error) { conn, err = net.DialTimeout("tcp", host, 5*time.Second); return err }); err != nil {
		t.Fatalf("dialing %s in %s: %v", host, ns, err)
	}
	defer conn.Close()
	form := url.Values{"Action": {action}, "Version": {"2016-11-15"}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/"+lab.EC2APIRegion+"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s\n%s", action, resp.Status, sb.String())
	}
	return sb.String()
}
