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
	if err := srv.LabFault(sc, "no-return-route", true); err != nil {
		fmt.Println(err)
	}
	fmt.Println(srv.RemoveRoute(sc.RouteTable, sc.OnPremises)) // already gone
	_ = srv.LabFault(sc, "no-return-route", false)
	fmt.Println(srv.RemoveRoute(sc.RouteTable, sc.OnPremises)) // back, then removed again
	fmt.Println(srv.LabFault(sc, "no-such-fault", true))
	// Output:
	// false
	// true
	// ec2test: unknown lab fault "no-such-fault"
}
