package routes

import "strings"

// MSSFor returns the tunnel MTU and IPv4 TCP MSS AWS recommends for a
// tunnel using Phase 2 encryption enc and integrity integ (as the AWS API
// spells them: "AES128", "AES256-GCM-16", "SHA1", "SHA2-256", …), with natt
// true when ESP is carried in UDP (NAT traversal). The values are the table
// in AWS's "best practices for your customer gateway device":
//
//	AES-GCM-16 (any integrity)      1446/1406, with NAT-T 1438/1398
//	AES-CBC with SHA1 or SHA2-256   1438/1398, with NAT-T 1422/1382
//	AES-CBC with SHA2-384           1422/1382 (both)
//	AES-CBC with SHA2-512           1422/1382, with NAT-T 1406/1366
//
// Names are matched without regard to case. For algorithms the table does
// not list it returns the most conservative row (1406/1366), which is safe
// for all of them. In libipsec mode the TUN device's 1400-byte MTU is lower
// still; [Manager.Set] caps the clamp at [LibipsecMaxMSS].
func MSSFor(enc, integ string, natt bool) (mtu, mss int) {
	enc, integ = strings.ToUpper(strings.TrimSpace(enc)), strings.ToUpper(strings.TrimSpace(integ))
	pick := func(plain, nat int) (int, int) {
		if natt {
			return nat, nat - 40
		}
		return plain, plain - 40
	}
	switch {
	case strings.HasPrefix(enc, "AES") && strings.Contains(enc, "GCM"):
		return pick(1446, 1438)
	case enc == "AES128" || enc == "AES256":
		switch integ {
		case "SHA1", "SHA2-256":
			return pick(1438, 1422)
		case "SHA2-384":
			return pick(1422, 1422)
		case "SHA2-512":
			return pick(1422, 1406)
		}
	}
	return 1406, 1366
}
