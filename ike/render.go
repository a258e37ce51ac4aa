package ike

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// Render returns the swanctl.conf equivalent of what Load sends charon for
// tunnels: a connections section and a secrets section. Keys print as
// "secret = [redacted]" unless showSecrets, then in the 0x<hex> form
// swanctl decodes to the raw key bytes. Anyone writing the showSecrets
// output to a file must create it with mode 0600.
func Render(tunnels []Tunnel, showSecrets bool) string {
	var b strings.Builder
	b.WriteString("# swanctl.conf equivalent of the connections cgw loads into charon over VICI\n")
	b.WriteString("connections {\n")
	for _, t := range tunnels {
		writeSection(&b, 1, t.Name, t.connSection())
	}
	b.WriteString("}\n")
	b.WriteString("secrets {\n")
	for _, t := range tunnels {
		secret := awsconf.Redacted
		if showSecrets {
			secret = "0x" + hex.EncodeToString(t.PSK.Reveal())
		}
		s := &section{}
		s.set("id-local", t.LocalID)
		s.set("id-remote", t.RemoteID)
		s.set("secret", secret)
		writeSection(&b, 1, sharedID(t.Name), s)
	}
	b.WriteString("}\n")
	return b.String()
}

func writeSection(b *strings.Builder, depth int, name string, s *section) {
	ind := strings.Repeat("\t", depth)
	fmt.Fprintf(b, "%s%s {\n", ind, name)
	for _, it := range s.items {
		switch v := it.val.(type) {
		case *section:
			writeSection(b, depth+1, it.key, v)
		case []string:
			q := make([]string, len(v))
			for i, s := range v {
				q[i] = quote(s)
			}
			fmt.Fprintf(b, "%s\t%s = %s\n", ind, it.key, strings.Join(q, ","))
		case string:
			fmt.Fprintf(b, "%s\t%s = %s\n", ind, it.key, quote(v))
		}
	}
	fmt.Fprintf(b, "%s}\n", ind)
}

// quote puts a value in double quotes when swanctl.conf would otherwise
// read it differently.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n{}=#,\"") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
