// Package icmpecho sends ICMP echo requests and reads the replies on a raw
// IPv4 socket opened in a network namespace, like `ping -I SOURCE`: the one
// engine behind the daemon's monitor probes (gateway) and diagnose's ping
// (diag.Probe). It needs root or CAP_NET_RAW, and Linux.
//
// A Conn may be written by one goroutine while another reads it; Close
// wakes a blocked Read.
package icmpecho

// ProbePayload is the data of every echo request cgw's monitor probes send
// (and so of every reply to one): how diagnose tells them from the user's
// traffic in any capture. It is a stable interface (diag.ProbePayload).
const ProbePayload = "cgw-probe"
