package awsconf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Detect names the format of data. For another vendor's AWS download
// (Cisco, Juniper, Fortinet, Palo Alto, pfSense, SonicWall, Yamaha) it
// returns an *UnsupportedVendorError naming the vendor; for anything that
// is no AWS VPN configuration, or XML whose root is not vpn_connection, a
// *ParseError. name is used in errors.
//
// JSON and XML are recognised by their first character; text downloads by
// signature lines, vendors first and the supported formats most specific
// first (Windows, Strongswan, Openswan, Vyatta, then Generic, whose labels
// other downloads may quote).
func Detect(name string, data []byte) (Format, error) {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	switch {
	case len(t) == 0:
		return "", errorf(name, 0, 0, "", "empty file: not an AWS VPN configuration")
	case t[0] == '{' || t[0] == '[':
		return FormatJSON, nil
	case t[0] == '<':
		if err := checkXMLRoot(name, t); err != nil {
			return "", err
		}
		return FormatXML, nil
	}
	lines := textLines(data)
	lower := make([]string, len(lines))
	for i, l := range lines {
		lower[i] = strings.ToLower(strings.TrimSpace(l))
	}
	if v := detectVendor(lower); v != "" {
		return "", &UnsupportedVendorError{File: name, Vendor: v}
	}
	switch {
	case isWindows(lower):
		return FormatWindows, nil
	case isStrongswan(lower):
		return FormatStrongswan, nil
	case isOpenswan(lower):
		return FormatOpenswan, nil
	case isVyatta(lower):
		return FormatVyatta, nil
	case isGeneric(lower):
		return FormatGeneric, nil
	}
	return "", errorf(name, 0, 0, "format", "not an AWS VPN configuration cgw recognises; supported: the native XML (vpn_connection), the describe-vpn-connections JSON, and AWS's Generic (Vendor Agnostic), Microsoft Windows Server, Strongswan, Openswan/Libreswan and Vyatta downloads")
}

// checkXMLRoot accepts XML whose first element is vpn_connection.
func checkXMLRoot(name string, data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			line := 0
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				line = se.Line
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("no root element")
			}
			return errorf(name, line, 0, "vpn_connection", "not an AWS VPN configuration: XML without a vpn_connection root: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "vpn_connection" {
				return errorf(name, 0, 0, "vpn_connection", "XML root element is <%s>, not <vpn_connection>: not an AWS VPN configuration (CustomerGatewayConfiguration)", se.Name.Local)
			}
			return nil
		}
	}
}

func isWindows(lower []string) bool {
	return anyLine(lower, "local tunnel endpoint:…") || anyLine(lower, "netsh advfirewall consec add rule…") ||
		anyLine(lower, "mainmodesecmethods:…")
}

// isSwanConn reports whether the file has an ipsec.conf "conn" section.
func isSwanConn(lower []string) bool { return anyLine(lower, "conn …") }

// isStrongswan: a conn section with strongSwan-only keys, or AWS's
// Strongswan prose. Openswan's phase2alg= rules it out.
func isStrongswan(lower []string) bool {
	if !isSwanConn(lower) || anyLine(lower, "phase2alg=…") {
		return false
	}
	return anyLine(lower, "esp=…") || anyLine(lower, "keyexchange=ikev…") || anyLine(lower, "leftauth=…") ||
		anyLine(lower, "aws-updown.sh") || anyLine(lower, "tested for strongswan")
}

func isOpenswan(lower []string) bool {
	if !isSwanConn(lower) {
		return false
	}
	return anyLine(lower, "phase2alg=…") || anyLine(lower, "dpdaction=restart_by_peer…") ||
		anyLine(lower, "openswan") || anyLine(lower, "libreswan") || anyLine(lower, "authby=secret…")
}

func isVyatta(lower []string) bool {
	return anyLine(lower, "set vpn ipsec site-to-site peer …") || anyLine(lower, "set vpn ipsec ike-group …")
}

func isGeneric(lower []string) bool {
	return anyLine(lower, "configure the ike sa as follows") ||
		anyLine(lower, "- pre-shared key") && anyLine(lower, "amazon web services")
}
