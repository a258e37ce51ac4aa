// Package awsconf reads the files AWS offers for a Site-to-Site VPN
// connection and turns each into one model: a Connection with its tunnels.
//
// Supported formats are the native XML (CustomerGatewayConfiguration of
// DescribeVpnConnections), the JSON printed by
// `aws ec2 describe-vpn-connections`, and the Generic, Microsoft Windows
// Server, Strongswan, Openswan/Libreswan and Vyatta text downloads. Files
// for other vendors (Cisco, Juniper, Fortinet, Palo Alto, pfSense, SonicWall,
// Yamaha) are recognised and refused with an error that names the vendor.
//
// The package is pure: it reads from an io.Reader or a byte slice and does
// no other I/O. Facts a file does not carry are left absent (zero values,
// nil slices or nil pointers), never guessed. Where a file only shows AWS's
// minimum sample profile, Connection.Profile says so.
//
// Errors are *ParseError values naming the file, the line (for text
// formats), the tunnel and the field. A parse that returns an error never
// returns a partly filled Connection.
package awsconf
