package ike

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// ErrClosed reports that the VICI session is gone: Close was called, or
// charon closed the socket or is not running. Callers match it with
// errors.Is, redial and load their tunnels again.
var ErrClosed = errors.New("vici session closed")

// A Reason classifies why charon refused or failed a command.
type Reason int

// The reasons an Error may carry.
const (
	ReasonUnknown     Reason = iota // nothing more specific was recognised
	ReasonAuthFailed                // a peer rejected the other's authentication (PSK, identity)
	ReasonNoProposal                // no common IKE or ESP proposal
	ReasonTimeout                   // charon did not finish within the timeout
	ReasonUnreachable               // the peer never answered (retransmits exhausted)
	ReasonNotFound                  // no such connection, child or SA
)

var reasonNames = [...]string{"unknown", "auth_failed", "no_proposal", "timeout", "unreachable", "not_found"}

// String returns a short lowercase name ("auth_failed").
func (r Reason) String() string {
	if r < 0 || int(r) >= len(reasonNames) {
		return fmt.Sprintf("reason(%d)", int(r))
	}
	return reasonNames[r]
}

// An Error is a VICI command that charon answered with a failure.
type Error struct {
	Command string   // the VICI command ("initiate", "load-conn", …)
	Conn    string   // the connection name, "" when none
	Message string   // charon's errmsg, or a summary of what went wrong
	Reason  Reason   // the classification of Message and Log
	Log     []string // charon's control-log lines for the command (initiate)

	// Remote is the peer address and Offered the IKE proposals of the
	// connection as Load sent it, when this Client loaded it; Explain
	// uses them.
	Remote  string
	Offered []string
}

// Error implements error: "vici initiate cgw-tunnel1: …".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vici ")
	b.WriteString(e.Command)
	if e.Conn != "" {
		b.WriteString(" ")
		b.WriteString(e.Conn)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Reason != ReasonUnknown {
		b.WriteString(" (")
		b.WriteString(e.Reason.String())
		b.WriteString(")")
	}
	return b.String()
}

// Explain says in plain words what went wrong with a tunnel, for a log
// line or the status output. tunnel names it for people ("tunnel 1").
func Explain(err error, tunnel string) string {
	if err == nil {
		return tunnel + ": ok"
	}
	if errors.Is(err, ErrClosed) {
		return tunnel + ": charon is not running or closed its VICI socket; cgw reconnects and loads the tunnels again"
	}
	var e *Error
	if !errors.As(err, &e) {
		return tunnel + ": " + err.Error()
	}
	peer := e.Remote
	if peer == "" {
		peer = "the AWS endpoint"
	}
	switch e.Reason {
	case ReasonAuthFailed:
		if hasLine(e.Log, "received AUTHENTICATION_FAILED") {
			return tunnel + ": the AWS side rejected our key (AUTHENTICATION_FAILED): check the tunnel's pre-shared key and that our IKE identity is the customer gateway's public address"
		}
		return tunnel + ": authentication failed: the pre-shared key or an identity does not match what " + peer + " expects"
	case ReasonNoProposal:
		s := tunnel + ": no common proposal (NO_PROPOSAL_CHOSEN)"
		if len(e.Offered) > 0 {
			s += ": we offered " + strings.Join(e.Offered, ",")
		}
		return s + "; compare with the tunnel's allowed algorithms in the AWS console"
	case ReasonUnreachable:
		return tunnel + ": no answer from " + peer + " (UDP 500/4500 blocked?)"
	case ReasonTimeout:
		return tunnel + ": " + peer + " did not complete the exchange in time"
	case ReasonNotFound:
		return tunnel + ": charon does not know " + e.Conn + " (not loaded)"
	}
	return tunnel + ": " + e.Error()
}

// classify picks the Reason that charon's errmsg and log lines show. The
// order matters: a specific notify outranks the generic timeout.
func classify(msg string, log []string) Reason {
	all := append([]string{msg}, log...)
	if hasLine(all, "AUTHENTICATION_FAILED") || hasLine(all, "MAC mismatched") ||
		hasLine(all, "no shared key found") || hasLine(all, "no matching peer config") ||
		hasLineBoth(all, "authentication of", "failed") {
		return ReasonAuthFailed
	}
	switch {
	case hasLine(all, "NO_PROPOSAL_CHOSEN"), hasLine(all, "no acceptable proposal"), hasLine(all, "no proposal chosen"):
		return ReasonNoProposal
	case hasLine(all, "giving up after"), hasLine(all, "retransmit") && !hasLine(all, "received packet"):
		return ReasonUnreachable
	case hasLine(all, "not established after"), hasLine(all, "timed out"):
		return ReasonTimeout
	case hasLine(all, "not found"), hasLine(all, "no matching SAs"):
		return ReasonNotFound
	}
	return ReasonUnknown
}

func hasLineBoth(lines []string, a, b string) bool {
	for _, l := range lines {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}

func hasLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// isClosed reports whether err means the session's connection is gone.
func isClosed(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, os.ErrDeadlineExceeded)
}

// closedError wraps err so that errors.Is(err, ErrClosed) holds.
type closedError struct {
	op  string
	err error
}

func (e *closedError) Error() string {
	return "vici " + e.op + ": " + ErrClosed.Error() + ": " + e.err.Error()
}
func (e *closedError) Unwrap() []error {
	return []error{ErrClosed, e.err}
}
