// Package diag finds out why a ping across the VPN fails, the way a network
// engineer would: it sends ICMP echo requests, captures on the gateway's
// inside interface, outside interface and tunnel device (and, through a
// command, on the receiver), matches each request and reply across those
// capture points, and names one of the seed's cases (0 healthy, 1 the request
// never enters the tunnel, 2 it leaves but never arrives, 3 it arrives and is
// answered but the reply never comes back) with tcpdump-like evidence lines
// and the next checks to make. Where the evidence cannot show a case it
// says "inconclusive" with the reasons (CaseInconclusive), and every
// report says what its captures can and cannot tell (Report.Coverage);
// Report.ExitCode is the exit status of `cgw diagnose`.
//
// Capture is pure Go: an AF_PACKET socket (github.com/gopacket/gopacket/pcapgo)
// with a classic BPF filter assembled by golang.org/x/net/bpf; no libpcap and
// no cgo. ESP in UDP (RFC 3948) is recognised by hand. Evidence is written as
// pcapng, one interface per capture point, and capture files taken elsewhere
// (tcpdump -w, Wireshark) are read back and classified offline.
//
// A live diagnosis (`cgw diagnose TARGET`) is: Collect (captures on the
// inside, outside and tunnel devices, the receiver's `cgw capture --json`
// through StartReceiver, SA samples, Probe), then the caller (package
// diag/live) adds the gateway's facts to the Observation (route lookup,
// remote_networks, forwarding, firewall), Classify, with --aws
// Report.ApplyAWS (the AWS side's faults), and Report.WriteText or WriteJSON;
// WriteEvidence keeps the frames, the receiver's included, with the verdict
// in pcapng comments. `cgw capture --json` is StreamJSON. An offline
// diagnosis is ReadCaptureFile (or ReadCapture) for each file, then
// ClassifyFiles, which reads each file's interfaces for the capture point
// they stand for.
//
// The live parts (OpenCapture, Probe, Collect, StreamJSON) are Linux-only;
// decoding, file reading and classification are pure and work anywhere.
package diag
