package lab_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cgw-project/cgw/internal/lab"
)

// Bring a lab up, check the tunnels with the plain initiator, break the VPC
// host's return route and tear everything down. (Needs root; not run.)
func ExampleUp() {
	ctx := context.Background()
	l, err := lab.Up(ctx, lab.Options{Name: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Println("import this:", l.GenericFile())
	if err := l.PlainInitiate(ctx); err != nil {
		log.Fatal(err)
	}
	if err := l.Command(ctx, lab.OnPrem, "ping", "-c", "3", lab.VPCHost).Run(); err != nil {
		log.Fatal(err)
	}
	if err := l.PlainReset(ctx); err != nil {
		log.Fatal(err)
	}
	if err := l.Fault(ctx, lab.FaultNoReturnRoute, true); err != nil {
		log.Fatal(err)
	}
}
