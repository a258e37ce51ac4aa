package awsconf

import "testing"

func TestXMLGolden(t *testing.T) {
	for _, fixture := range []string{"xml-bgp-unordered.xml", "xml-static.xml"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}
