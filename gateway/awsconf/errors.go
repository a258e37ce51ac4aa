package awsconf

import (
	"fmt"
	"strings"
)

// A ParseError reports why a file could not be read into a Connection. It
// names the file, the line (text formats; 0 otherwise), the tunnel (0 when
// the problem is not a tunnel's) and the field, in the words of the file
// where possible ("Pre-Shared Key", "tunnel_inside_address") or else the
// model's JSON name ("psk", "customer_inside").
type ParseError struct {
	File   string
	Line   int
	Tunnel int
	Field  string
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.File == "" {
		b.WriteString("<input>")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Tunnel > 0 {
		fmt.Fprintf(&b, "tunnel %d: ", e.Tunnel)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// An UnsupportedVendorError is returned for a recognised AWS download for a
// device cgw does not read (Cisco, Juniper, …).
type UnsupportedVendorError struct {
	File   string
	Vendor string
}

func (e *UnsupportedVendorError) Error() string {
	return fmt.Sprintf("%s: this is AWS's %s configuration; cgw reads the native XML, the describe-vpn-connections JSON and the Generic, Windows Server, Strongswan, Openswan/Libreswan and Vyatta downloads: download the Generic (Vendor Agnostic) file instead",
		e.File, e.Vendor)
}

// errorf builds a *ParseError; a small helper for parsers.
func errorf(file string, line, tunnel int, field, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, Tunnel: tunnel, Field: field, Err: fmt.Errorf(format, args...)}
}
