package awsconf

import "testing"

func TestGenericGolden(t *testing.T) {
	for _, fixture := range []string{"generic-bgp-ikev1.txt", "generic-static-ikev2.txt"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}
