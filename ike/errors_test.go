package ike

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		log  []string
		want Reason
	}{
		{"AWS rejects our key", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"authentication of '198.51.100.50' (myself) with pre-shared key", "parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]", "received AUTHENTICATION_FAILED notify error"}, ReasonAuthFailed},
		{"we reject theirs", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"tried 1 shared key for '198.51.100.50' - '203.0.113.10', but MAC mismatched"}, ReasonAuthFailed},
		{"successful self-authentication is not a failure", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"authentication of '198.51.100.50' (myself) with pre-shared key successful", "giving up after 5 retransmits"}, ReasonUnreachable},
		{"IKE proposal", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]", "received NO_PROPOSAL_CHOSEN notify error"}, ReasonNoProposal},
		{"ESP proposal", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built"}, ReasonNoProposal},
		{"no answer", "establishing CHILD_SA 'cgw-tunnel1' failed",
			[]string{"sending packet: from 192.168.0.10[500] to 203.0.113.10[500] (508 bytes)", "retransmit 1 of request with message ID 0", "giving up after 2 retransmits"}, ReasonUnreachable},
		{"still retransmitting at the timeout", "CHILD_SA 'cgw-tunnel1' not established after 10000ms",
			[]string{"retransmit 1 of request with message ID 0"}, ReasonUnreachable},
		{"timeout with answers", "CHILD_SA 'cgw-tunnel1' not established after 10000ms",
			[]string{"received packet: from 203.0.113.10[500]", "retransmit 1 of request with message ID 1"}, ReasonTimeout},
		{"unknown child", "CHILD_SA config 'cgw-nosuch' not found", nil, ReasonNotFound},
		{"nothing to terminate", "no matching SAs to terminate found", nil, ReasonNotFound},
		{"something else", "unloading connection 'x' failed", nil, ReasonUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.msg, tt.log); got != tt.want {
				t.Errorf("classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	offered := []string{"aes256-sha256-modp2048", "aes128-sha1-modp1024"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, "tunnel 1: ok"},
		{"AWS rejects the key", &Error{Command: "initiate", Conn: "cgw-tunnel2", Reason: ReasonAuthFailed, Log: []string{"received AUTHENTICATION_FAILED notify error"}},
			"tunnel 1: the AWS side rejected our key (AUTHENTICATION_FAILED): check the tunnel's pre-shared key and that our IKE identity is the customer gateway's public address"},
		{"we reject theirs", &Error{Command: "initiate", Reason: ReasonAuthFailed, Remote: "203.0.113.10"},
			"tunnel 1: authentication failed: the pre-shared key or an identity does not match what 203.0.113.10 expects"},
		{"no proposal", &Error{Command: "initiate", Reason: ReasonNoProposal, Offered: offered},
			"tunnel 1: no common proposal (NO_PROPOSAL_CHOSEN): we offered aes256-sha256-modp2048,aes128-sha1-modp1024; compare with the tunnel's allowed algorithms in the AWS console"},
		{"unreachable", &Error{Command: "initiate", Reason: ReasonUnreachable, Remote: "203.0.113.10"},
			"tunnel 1: no answer from 203.0.113.10 (UDP 500/4500 blocked?)"},
		{"unreachable, peer unknown", &Error{Command: "initiate", Reason: ReasonUnreachable},
			"tunnel 1: no answer from the AWS endpoint (UDP 500/4500 blocked?)"},
		{"timeout", &Error{Command: "initiate", Reason: ReasonTimeout, Remote: "203.0.113.10"},
			"tunnel 1: 203.0.113.10 did not complete the exchange in time"},
		{"not loaded", &Error{Command: "initiate", Conn: "cgw-tunnel1", Reason: ReasonNotFound},
			"tunnel 1: charon does not know cgw-tunnel1 (not loaded)"},
		{"unknown", &Error{Command: "load-conn", Conn: "cgw-tunnel1", Message: "bad proposal"},
			"tunnel 1: vici load-conn cgw-tunnel1: bad proposal"},
		{"closed", fmt.Errorf("reconcile: %w", &closedError{op: "list-sas", err: io.EOF}),
			"tunnel 1: charon is not running or closed its VICI socket; cgw reconnects and loads the tunnels again"},
		{"other", errors.New("boom"), "tunnel 1: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Explain(tt.err, "tunnel 1"); got != tt.want {
				t.Errorf("Explain =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Command: "initiate", Conn: "cgw-tunnel1", Message: "establishing CHILD_SA 'cgw-tunnel1' failed", Reason: ReasonAuthFailed}
	if got, want := e.Error(), "vici initiate cgw-tunnel1: establishing CHILD_SA 'cgw-tunnel1' failed (auth_failed)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{Command: "version", Message: "x"}
	if got, want := e.Error(), "vici version: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	ce := &closedError{op: "version", err: io.EOF}
	if !errors.Is(ce, ErrClosed) || !errors.Is(ce, io.EOF) || !strings.HasPrefix(ce.Error(), "vici version: ") {
		t.Errorf("closedError %q does not wrap ErrClosed and its cause", ce)
	}
	if Reason(42).String() != "reason(42)" {
		t.Errorf("Reason(42) = %s", Reason(42))
	}
}
