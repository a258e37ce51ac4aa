package awsconf

import "testing"

func TestJSONGolden(t *testing.T) {
	for _, fixture := range []string{"json-static-tunnel-options.json", "json-bgp-defaults.json"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}
