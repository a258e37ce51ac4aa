package ec2test_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/internal/ec2test"
)

const signed = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=0"

func post(t *testing.T, srv *ec2test.Server, auth string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerRefuses: what AWS refuses, the fake refuses with AWS's error
// document, so a client bug shows in tests.
func TestServerRefuses(t *testing.T) {
	srv := ec2test.NewServer()
	defer srv.Close()
	srv.AddScenario(ec2test.Scenario{})
	for _, tc := range []struct {
		name   string
		auth   string
		form   url.Values
		status int
		code   string
	}{
		{"unsigned", "", url.Values{"Action": {"DescribeVpnConnections"}}, 401, "<Code>AuthFailure</Code>"},
		{"unknown action", signed, url.Values{"Action": {"RunInstances"}}, 400, "<Code>InvalidAction</Code>"},
		{"unknown filter", signed, url.Values{"Action": {"DescribeRouteTables"}, "Filter.1.Name": {"tag:Name"}, "Filter.1.Value.1": {"x"}}, 400, "<Code>InvalidParameterValue</Code>"},
		{"unknown vpn", signed, url.Values{"Action": {"DescribeVpnConnections"}, "VpnConnectionId.1": {"vpn-00000000"}}, 400, "<Code>InvalidVpnConnectionID.NotFound</Code>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, srv, tc.auth, tc.form)
			if status != tc.status || !strings.Contains(body, tc.code) || !strings.Contains(body, "<Response>") || !strings.Contains(body, "<Errors>") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
	srv.Deny("DescribeSecurityGroups")
	if status, body := post(t, srv, signed, url.Values{"Action": {"DescribeSecurityGroups"}}); status != 403 || !strings.Contains(body, "<Code>UnauthorizedOperation</Code>") {
		t.Errorf("denied: %d %s", status, body)
	}
	if r := srv.Requests(); len(r) != 4 || r[0].Region != "eu-west-1" {
		t.Errorf("requests %+v: want the signed ones, with their region", r)
	}
}

// TestServerShape: responses carry the element names of the EC2 API
// reference (lists as <item>, the 2016-11-15 namespace).
func TestServerShape(t *testing.T) {
	srv := ec2test.NewServer()
	defer srv.Close()
	sc := srv.AddScenario(ec2test.Scenario{})
	_, body := post(t, srv, signed, url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {sc.SecurityGroup}})
	for _, want := range []string{`<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`, "<securityGroupInfo>", "<item>",
		"<groupId>" + sc.SecurityGroup + "</groupId>", "<ipPermissions>", "<ipProtocol>icmp</ipProtocol>", "<fromPort>-1</fromPort>", "<cidrIp>172.31.16.0/20</cidrIp>"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	_, body = post(t, srv, signed, url.Values{"Action": {"DescribeVpnConnections"}})
	for _, want := range []string{"<vpnConnectionSet>", "<vgwTelemetry>", "<acceptedRouteCount>0</acceptedRouteCount>", "<tunnelOptionSet>",
		"<phase1EncryptionAlgorithmSet>", "<value>AES256</value>", "&lt;vpn_connection id=", "<staticRoutesOnly>true</staticRoutesOnly>"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in DescribeVpnConnections", want)
		}
	}
}

func TestNewServerOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := ec2test.NewServerOn(l)
	defer srv.Close()
	if srv.URL != "http://"+l.Addr().String() {
		t.Errorf("URL %s, listener %s", srv.URL, l.Addr())
	}
	if status, _ := post(t, srv, signed, url.Values{"Action": {"DescribeSubnets"}}); status != 200 {
		t.Errorf("status %d", status)
	}
	srv.Close()
	srv.Close() // safe twice
}

// TestSetSync: the sync function runs before each EC2 request, so a
// change it makes shows in that very answer.
func TestSetSync(t *testing.T) {
	srv := ec2test.NewServer()
	defer srv.Close()
	sc := srv.AddScenario(ec2test.LabScenario())
	faultOn := false
	srv.SetSync(func() {
		if err := srv.LabFault(sc, "vpc-route-table", faultOn); err != nil {
			t.Error(err)
		}
	})
	describe := func() string {
		_, body := post(t, srv, signed, url.Values{"Action": {"DescribeRouteTables"}})
		return body
	}
	if body := describe(); !strings.Contains(body, sc.OnPremises.String()) {
		t.Errorf("healthy route table without the route to %s:\n%s", sc.OnPremises, body)
	}
	faultOn = true
	if body := describe(); strings.Contains(body, sc.OnPremises.String()) {
		t.Errorf("route to %s still there with the fault on:\n%s", sc.OnPremises, body)
	}
}
