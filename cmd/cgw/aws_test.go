package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/internal/ec2test"
)

// fakeAWS starts the fake EC2 API with the lab's scenario and points the
// SDK's standard chain at it through the environment only, as a user's
// shell would: AWS_ENDPOINT_URL_EC2, static keys (or none), IMDS at the
// fake, no shared files.
func fakeAWS(t *testing.T, withCreds bool) (*ec2test.Server, ec2test.Scenario) {
	t.Helper()
	srv := ec2test.NewServer()
	t.Cleanup(srv.Close)
	sc := srv.AddScenario(ec2test.Scenario{})
	awsTestEnv(t, srv.URL, withCreds)
	return srv, sc
}

// awsTestEnv sets the environment (of the test and the commands it runs)
// so that the AWS SDK talks to url for EC2 and IMDS and nothing else.
func awsTestEnv(t *testing.T, url string, withCreds bool) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_EC2_METADATA_DISABLED", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ENDPOINT_URL_EC2", url)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
	if withCreds {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	}
}

func noPSK(t *testing.T, sc ec2test.Scenario, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, k := range sc.PSKs {
			if strings.Contains(o, k) {
				t.Errorf("a pre-shared key was printed:\n%s", o)
			}
		}
	}
}

func TestImportVPNConnectionID(t *testing.T) {
	srv, sc := fakeAWS(t, true)
	stdout, stderr, err := runCgw(t, nil, "import", "--vpn-connection-id", sc.VPN, "--region", "eu-west-1", "--json")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	noPSK(t, sc, stdout, stderr)
	var got struct {
		Format  string `json:"format"`
		ID      string `json:"vpn_connection_id"`
		Routing string `json:"routing"`
		Tunnels []struct {
			AWSOutside  string `json:"aws_outside"`
			Fingerprint string `json:"psk_fingerprint"`
			IKE         struct {
				Versions []int `json:"versions"`
			} `json:"ike"`
		} `json:"tunnels"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if got.ID != sc.VPN || got.Routing != "static" || got.Format != "json" || len(got.Tunnels) != 2 {
		t.Fatalf("imported %+v", got)
	}
	for i, tu := range got.Tunnels {
		if tu.AWSOutside != sc.AWSOutside[i].String() || !strings.HasPrefix(tu.Fingerprint, "hmac-sha256:") || len(tu.IKE.Versions) != 1 || tu.IKE.Versions[0] != 2 {
			t.Errorf("tunnel %d: %+v", i+1, tu)
		}
	}
	if r := srv.Calls(); len(r) != 1 || r[0].Region != "eu-west-1" || r[0].Action != "DescribeVpnConnections" {
		t.Errorf("requests %+v", r)
	}

	// The table form too.
	stdout, stderr, err = runCgw(t, nil, "import", "--vpn-connection-id", sc.VPN, "--region", "eu-west-1")
	if err != nil || !strings.Contains(stdout, "VPN connection "+sc.VPN+" (json, static routing, tunnel options profile)") {
		t.Errorf("table: %v\n%s%s", err, stdout, stderr)
	}
	noPSK(t, sc, stdout, stderr)
}

func TestImportVPNConnectionIDErrors(t *testing.T) {
	_, sc := fakeAWS(t, false)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--vpn-connection-id", sc.VPN, "--region", "eu-west-1"}, "no AWS credentials (environment, shared config or profile, or an instance role); reading AWS needs the read-only IAM actions ec2:DescribeVpnConnections"},
		{[]string{"import", "--vpn-connection-id", "vpn-zz"}, "--vpn-connection-id: \"vpn-zz\" is not a VPN connection id"},
		{[]string{"import", "--vpn-connection-id", sc.VPN, "some-file"}, "give FILE or --vpn-connection-id, not both"},
		{[]string{"import", "--region", "eu-west-1", "some-file"}, "--region goes with --vpn-connection-id"},
	} {
		_, _, err := runCgw(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("cgw %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	_, _, err := runCgw(t, nil, "import", "--vpn-connection-id", sc.VPN, "--region", "eu-west-1")
	for _, a := range awsapi.IAMActions[:1] {
		if err == nil || !strings.Contains(err.Error(), a) {
			t.Errorf("without credentials: %v, want the IAM action %s named", err, a)
		}
	}
}

// TestRunCheckAWSConfigRef: aws_config: aws:REGION:vpn-… reads the
// connection from the API, so no download is needed.
func TestRunCheckAWSConfigRef(t *testing.T) {
	srv, sc := fakeAWS(t, true)
	dir := t.TempDir()
	ref := "aws:eu-north-1:" + sc.VPN
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: "+ref+"\ndataplane: libipsec\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
	stdout, stderr, err := runCgw(t, nil, "run", "--check", "--config", cfg)
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if !strings.Contains(stdout, "config ok: 2 tunnel(s) from "+ref+" (json), routing static") {
		t.Errorf("stdout %q", stdout)
	}
	noPSK(t, sc, stdout, stderr)
	if r := srv.Calls(); len(r) == 0 || r[0].Region != "eu-north-1" {
		t.Errorf("requests %+v, want DescribeVpnConnections in the ref's region", r)
	}

	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "aws_config: aws:vpn-nothex\ndataplane: libipsec\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
	if _, _, err := runCgw(t, nil, "run", "--check", "--config", bad); err == nil || !strings.Contains(err.Error(), "aws_config") {
		t.Errorf("bad ref: %v, want an error naming aws_config", err)
	}
}

// TestDiagnoseAWS: offline captures that cannot tell Case 2 from Case 3
// (requests into the tunnel, no reply) plus --aws: the fake EC2 API names
// the resource at fault, before the captures' verdict, and every finding
// is a check.
func TestDiagnoseAWS(t *testing.T) {
	dir := t.TempDir()
	var lines strings.Builder
	for seq := 1; seq <= 4; seq++ {
		fmt.Fprintf(&lines, `{"time":"2026-11-27T09:00:0%dZ","point":"tunnel","kind":"echo_request","src":"172.31.16.103","dst":"10.10.100.110","id":9,"seq":%d,"len":84,"summary":"ICMP echo request"}`+"\n", seq, seq)
	}
	sender := writeFile(t, filepath.Join(dir, "sender.jsonl"), lines.String(), 0o600)
	sc := ec2test.LabScenario()
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: aws:eu-west-1:"+sc.VPN+"\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
	diagnose := func(t *testing.T) (diag.Report, string) {
		t.Helper()
		stdout, stderr, err := runCgw(t, nil, "diagnose", "--config", cfg, "--sender-pcap", sender, "--aws", "--source", "172.31.16.103", "--json", "10.10.100.110")
		var r diag.Report
		if jerr := json.Unmarshal([]byte(stdout), &r); jerr != nil {
			t.Fatalf("%v / %v (stderr %q)", err, jerr, stderr)
		}
		return r, stderr
	}
	for _, tc := range []struct {
		name, verdict, check string
		fault                func(*ec2test.Server)
		cs, exit             int
	}{
		{"vpc-route-table", "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 has no route to 172.31.16.0/20 (vgw-0fedcba9876543210, propagation off)\n",
			"AWS fault rtb-0d0d0d0d0d0d0d0d0: ", func(s *ec2test.Server) { s.RemoveRoute(sc.RouteTable, sc.OnPremises) }, 3, diag.ExitCase3},
		{"drop-icmp-vpc", "Case 2: security group sg-0e0e0e0e0e0e0e0e0 of eni-0b0b0b0b0b0b0b0b0 allows no inbound ICMP echo from 172.31.16.0/20\n",
			"AWS fault sg-0e0e0e0e0e0e0e0e0: ", func(s *ec2test.Server) { s.RevokeICMP(sc.SecurityGroup, sc.OnPremises) }, 2, diag.ExitCase2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, sc := fakeAWS(t, true)
			tc.fault(srv)
			r, stderr := diagnose(t)
			if !strings.HasPrefix(r.Verdict, tc.verdict) || len(r.Verdict) == len(tc.verdict) {
				t.Errorf("verdict %q, want it to start with %q and keep the captures'", r.Verdict, tc.verdict)
			}
			// The captures alone say "2 or 3"; the AWS fault decides.
			if r.Case != tc.cs || r.ExitCode != tc.exit || r.DecidedBy != diag.DecidedByAWS {
				t.Errorf("case %d exit_code %d decided_by %q, want %d, %d, %q", r.Case, r.ExitCode, r.DecidedBy, tc.cs, tc.exit, diag.DecidedByAWS)
			}
			if !slices.ContainsFunc(r.Checks, func(c string) bool { return strings.HasPrefix(c, tc.check) }) ||
				!slices.ContainsFunc(r.Checks, func(c string) bool { return strings.HasPrefix(c, "AWS ok "+sc.VPN) }) {
				t.Errorf("checks %q", r.Checks)
			}
			noPSK(t, sc, stderr)
		})
	}
	t.Run("connection id from the AWS file", func(t *testing.T) {
		srv, sc := fakeAWS(t, true)
		srv.SetTunnelStatus(sc.VPN, sc.AWSOutside[0], "DOWN", "IPSEC IS DOWN", 0)
		srv.SetTunnelStatus(sc.VPN, sc.AWSOutside[1], "DOWN", "IPSEC IS DOWN", 0)
		file, err := filepath.Abs("../../gateway/awsconf/testdata/json-static-tunnel-options.json") // vpn-0a1b2c3d4e5f6071a
		if err != nil {
			t.Fatal(err)
		}
		fcfg := writeFile(t, filepath.Join(dir, "file.yaml"), "aws_config: "+file+"\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
		stdout, stderr, _ := runCgw(t, nil, "diagnose", "--config", fcfg, "--sender-pcap", sender, "--aws", "--region", "eu-west-1", "--json", "10.10.100.110")
		var r diag.Report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v (stderr %q)", err, stderr)
		}
		if want := "AWS: both tunnels of VPN connection " + sc.VPN + " are DOWN at AWS: no traffic crosses\n"; !strings.HasPrefix(r.Verdict, want) {
			t.Errorf("verdict %q, want it to start with %q", r.Verdict, want)
		}
		if c := srv.Calls(); len(c) == 0 || c[0] != (ec2test.Request{Action: "DescribeVpnConnections", Region: "eu-west-1"}) {
			t.Errorf("calls %+v", c)
		}
	})
	t.Run("offline on EC2: not the gateway", func(t *testing.T) {
		srv, _ := fakeAWS(t, true)
		srv.SetIdentity("i-0123456789abcdef0", "eu-west-1")
		diagnose(t)
		for _, c := range srv.Calls() {
			if c.Action == "DescribeInstanceAttribute" || c.Action == "DescribeInstances" {
				t.Errorf("offline diagnose checked this host's instance as the gateway: %+v", c)
			}
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		srv, _ := fakeAWS(t, false)
		r, stderr := diagnose(t)
		if strings.Contains(r.Verdict, "AWS") || strings.Contains(r.Verdict, "Case 3: route") {
			t.Errorf("verdict %q names AWS without having read it", r.Verdict)
		}
		if n := strings.Count(stderr, "AWS checks skipped"); n != 1 || !strings.Contains(stderr, strings.Join(awsapi.IAMActions, ", ")) {
			t.Errorf("stderr %q: want one skip line naming the IAM actions", stderr)
		}
		if len(srv.Calls()) != 0 {
			t.Errorf("EC2 called without credentials: %+v", srv.Calls())
		}
	})
}

// TestDiagnoseAWSDecides runs the built binary on a golden lab capture
// that cannot tell Case 2 from Case 3 (the sender's merged capture, no
// receiver) with --aws against the fake EC2 API: the resource at fault
// decides the case and the exit status, the report says so, and a capture
// that proves its case (the receiver's included) is not overturned.
func TestDiagnoseAWSDecides(t *testing.T) {
	bin := buildCGW(t)
	dir := t.TempDir()
	sc := ec2test.LabScenario()
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: aws:eu-west-1:"+sc.VPN+"\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
	golden := func(c, f string) string { return filepath.Join(goldenDir, c, f) }
	twoOrThree := []string{"--sender-pcap", golden("reply-lost-on-return", "merged.pcapng")}
	proved3 := []string{"--sender-pcap", golden("reply-lost-on-return", "ipsec0.pcapng"), "--receiver-pcap", golden("reply-lost-on-return", "vpc.pcapng")}
	for _, tc := range []struct {
		name     string
		captures []string
		fault    func(*ec2test.Server, ec2test.Scenario)
		code     int
		title    string
		by       string
	}{
		{"2 or 3, route table", twoOrThree, func(s *ec2test.Server, sc ec2test.Scenario) { s.RemoveRoute(sc.RouteTable, sc.OnPremises) },
			diag.ExitCase3, "Case 3 (aws-reply)", diag.DecidedByAWS},
		{"2 or 3, security group", twoOrThree, func(s *ec2test.Server, sc ec2test.Scenario) { s.RevokeICMP(sc.SecurityGroup, sc.OnPremises) },
			diag.ExitCase2, "Case 2 (aws-request)", diag.DecidedByAWS},
		{"2 or 3, AWS healthy", twoOrThree, func(*ec2test.Server, ec2test.Scenario) {},
			diag.ExitCase2or3, "Case 2 or 3", diag.DecidedByPackets},
		{"Case 3 proved, route table agrees", proved3, func(s *ec2test.Server, sc ec2test.Scenario) { s.RemoveRoute(sc.RouteTable, sc.OnPremises) },
			diag.ExitCase3, "Case 3 (return-path)", diag.DecidedByPacketsAWS},
		{"Case 3 proved, security group does not overturn it", proved3, func(s *ec2test.Server, sc ec2test.Scenario) { s.RevokeICMP(sc.SecurityGroup, sc.OnPremises) },
			diag.ExitCase3, "Case 3 (return-path)", diag.DecidedByPackets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, sc := fakeAWS(t, true)
			tc.fault(srv, sc)
			args := append(append([]string{"diagnose", "--config", cfg, "--aws"}, tc.captures...), "10.10.100.110")
			out, stderr, code := runStatus(t, exec.Command(bin, args...))
			if code != tc.code || !strings.HasPrefix(string(out), tc.title) {
				t.Errorf("exit status %d, report starts %q; want %d, %q\n%s%s", code, firstLine(string(out)), tc.code, tc.title, out, stderr)
			}
			jout, _, jcode := runStatus(t, exec.Command(bin, append(args[:len(args)-1:len(args)-1], "--json", "10.10.100.110")...))
			var r diag.Report
			if err := json.Unmarshal(jout, &r); err != nil {
				t.Fatalf("JSON: %v\n%s", err, jout)
			}
			if jcode != tc.code || r.ExitCode != tc.code || r.DecidedBy != tc.by {
				t.Errorf("--json: exit status %d, exit_code %d, decided_by %q; want %d, %q", jcode, r.ExitCode, r.DecidedBy, tc.code, tc.by)
			}
			if tc.by == diag.DecidedByAWS && !strings.Contains(string(out), "Decided by: the AWS side") {
				t.Errorf("the text report does not say the AWS side decided:\n%s", out)
			}
			noPSK(t, sc, string(out), stderr)
		})
	}
}
