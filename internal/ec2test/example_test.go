package ec2test_test

import (
	"fmt"

	"github.com/cgw-project/cgw/internal/ec2test"
)

// ExampleServer_LabFault: a lab follows its own faults on the fake EC2
// API, so that `cgw diagnose --aws` names the resource at fault.
func ExampleServer_LabFault() {
	srv := ec2test.NewServer()
	defer srv.Close()
	sc := srv.AddScenario(ec2test.LabScenario())
	// The seed's Case 3: a route table outside the host loses the reply.
	if err := srv.LabFault(sc, "vpc-route-table", true); err != nil {
		fmt.Println(err)
	}
	fmt.Println(srv.RemoveRoute(sc.RouteTable, sc.OnPremises)) // already gone
	_ = srv.LabFault(sc, "vpc-route-table", false)
	fmt.Println(srv.RemoveRoute(sc.RouteTable, sc.OnPremises)) // back, then removed again
	_ = srv.LabFault(sc, "vpc-route-table", false)
	// The VPC host's own route is inside the instance: no trace in EC2.
	_ = srv.LabFault(sc, "no-return-route", true)
	fmt.Println(srv.RemoveRoute(sc.RouteTable, sc.OnPremises)) // the route table keeps its route
	fmt.Println(srv.LabFault(sc, "no-such-fault", true))
	// Output:
	// false
	// true
	// true
	// ec2test: unknown lab fault "no-such-fault"
}
