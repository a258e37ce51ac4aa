package awsapi_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/internal/ec2test"
)

// ExampleDiagnose checks the VPC side of a ping to 10.10.100.110 from
// on-premises 172.31.16.0/20, against the fake EC2 API with the lab's
// return route removed.
func ExampleDiagnose() {
	srv := ec2test.NewServer()
	defer srv.Close()
	sc := srv.AddScenario(ec2test.Scenario{})
	srv.RemoveRoute(sc.RouteTable, sc.OnPremises)

	// Credentials from the standard chain: here, the environment.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		if had {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
	}
	r := awsapi.Diagnose(context.Background(),
		awsapi.Options{Region: "eu-west-1", Endpoint: srv.URL, IMDSEndpoint: srv.URL},
		awsapi.Target{Addr: netip.MustParseAddr("10.10.100.110"), OnPremises: []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")}, VPNConnectionID: sc.VPN})
	fmt.Println(r.Verdict())
	// Output:
	// Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 has no route to 172.31.16.0/20 (vgw-0fedcba9876543210, propagation off)
}
