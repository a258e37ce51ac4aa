// Package ike drives strongSwan's charon for cgw over VICI, the daemon's
// control socket (what swanctl uses).
//
// A Tunnel is one AWS tunnel as cgw loads it into charon; TunnelFromAWS
// builds it from the awsconf model, mapping AWS algorithm names to
// strongSwan proposals, and Render prints the equivalent swanctl.conf for
// humans. A Client is one VICI session: Load and Unload correspond to
// swanctl --load-conns/--load-creds, Initiate to swanctl --initiate,
// Terminate to swanctl --terminate, SAs to swanctl --list-sas, and Events
// to swanctl --monitor-sa style event streams.
//
// cgw only ever loads, initiates, terminates or unloads connections whose
// names start with NamePrefix ("cgw-"), so charon can hold other
// connections too. The pre-shared key leaves the process only as the raw
// bytes of a VICI load-shared message; it is never logged, never in an
// error and never rendered unless asked for explicitly.
package ike
