package gateway

// This file is the AWS side of a tunnel as the loop sees it: the duplicate
// SAs a simultaneous start leaves, and the tunnel options status shows.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
)

// dupGrace is how long duplicate SAs of a tunnel may last before cgw closes
// the extras: AWS's own uniqueness policy, if it has one, acts as the
// second SA comes up, so cgw acts only on what that leaves.
const dupGrace = 5 * time.Second

// saCloser closes one SA by id; *ike.Client is one.
type saCloser interface {
	TerminateIKESA(ctx context.Context, name string, id uint32) error
	TerminateChildSA(ctx context.Context, name string, id uint32) error
}

var _ saCloser = (*ike.Client)(nil)

// closeDuplicates closes the IKE_SAs and CHILD_SAs of t that duplicate
// another, once they have lasted dupGrace (see ike.Extras for which one
// stays: the one AWS initiated). Only tunnels AWS initiates too
// (StartupAction start) can have them: their unique = never lets both SAs
// of a simultaneous start live instead of each side deleting the one the
// other keeps. An SA cgw did not initiate is otherwise treated like its
// own: it makes the tunnel up, and cgw initiates nothing meanwhile.
func (g *Gateway) closeDuplicates(ctx context.Context, c saCloser, log *slog.Logger, t *tunnel, sas []ike.IKESA, now time.Time) {
	if !t.spec.AWSInitiates {
		return
	}
	children := []string{t.spec.Name}
	if in := t.spec.Inside; in != nil {
		children = append(children, in.Name)
	}
	ikeIDs, childIDs := ike.Extras(sas, t.spec.Name, children...)
	switch {
	case len(ikeIDs)+len(childIDs) == 0:
		t.dupSince = time.Time{}
		return
	case t.dupSince.IsZero():
		t.dupSince = now
		return
	case now.Sub(t.dupSince) < dupGrace:
		return
	}
	t.dupSince = time.Time{}
	for _, id := range ikeIDs {
		log.Info("closing a duplicate IKE_SA (cgw and AWS both initiated)", "tunnel", t.number, "ike_id", id)
		if err := c.TerminateIKESA(ctx, t.spec.Name, id); err != nil {
			log.Warn("closing a duplicate IKE_SA", "tunnel", t.number, "ike_id", id, "err", err)
		}
	}
	for _, id := range childIDs {
		log.Info("closing a duplicate CHILD_SA (cgw and AWS both initiated)", "tunnel", t.number, "child_id", id)
		if err := c.TerminateChildSA(ctx, t.spec.Name, id); err != nil {
			log.Warn("closing a duplicate CHILD_SA", "tunnel", t.number, "child_id", id, "err", err)
		}
	}
}

// TunnelAWS is, in Status, what the AWS endpoint does on a tunnel (its
// tunnel options, AWS's defaults where the file does not say) and when
// cgw rekeys to come first.
type TunnelAWS struct {
	StartupAction    string `json:"startup_action"`     // add (cgw initiates) or start (AWS too)
	DPDTimeoutAction string `json:"dpd_timeout_action"` // clear, none or restart
	DPDTimeoutS      int    `json:"dpd_timeout_s"`
	RekeyWindowS     int    `json:"rekey_window_s"` // AWS rekeys in this last part of a lifetime
	IKERekeyS        int64  `json:"ike_rekey_s"`    // cgw's rekey_time
	ChildRekeyS      int64  `json:"child_rekey_s"`
	ReplayWindow     int    `json:"replay_window,omitempty"` // 0: charon's default
	// InitiatedBy is who initiated the current IKE SA: cgw or aws; ""
	// when there is none.
	InitiatedBy string `json:"initiated_by,omitempty"`
}

// tunnelAWS is t's TunnelAWS from its connection's imported file.
func tunnelAWS(conn *awsconf.Connection, t *tunnel) TunnelAWS {
	var o awsconf.AWSOptions
	for _, ct := range conn.Tunnels {
		if ct.Number == t.number {
			o = ct.AWS
		}
	}
	out := TunnelAWS{
		StartupAction: string(o.StartupAction), DPDTimeoutAction: string(o.DPDTimeoutAction), DPDTimeoutS: o.DPDTimeoutS,
		RekeyWindowS: o.RekeyWindow(), IKERekeyS: int64(t.spec.IKERekey / time.Second), ChildRekeyS: int64(t.spec.ChildRekey / time.Second),
		ReplayWindow: o.ReplayWindow,
	}
	if out.StartupAction == "" {
		out.StartupAction = string(awsconf.StartupAdd)
	}
	if out.DPDTimeoutAction == "" {
		out.DPDTimeoutAction = string(awsconf.DPDClear)
	}
	if out.DPDTimeoutS == 0 {
		out.DPDTimeoutS = awsconf.DefaultDPDTimeoutS
	}
	return out
}

func initiatedBy(sa *ike.IKESA) string {
	if sa.Initiator {
		return "cgw"
	}
	return "aws"
}

// returnPathOf is returnPath with what AWS's DPD options on the tunnel
// left (DPDTimeoutAction, DPDTimeoutSeconds; AWS's defaults, clear after
// 40 s, where the file does not say) mean for AWS's return traffic. AWS's
// DPD asks after 10 s without traffic, so it declares a silent tunnel dead
// between timeout − 10 s and the timeout after the silence began (30–40 s
// with the default, 33–40 s measured in the lab). cgw's
// own handling of that tunnel agrees with each: it terminates it after
// sustainedLoss (60 s, longer than AWS's timeout) without a sign of life
// and initiates it afresh, and it accepts the SAs AWS initiates (restart).
func (cn *connection) returnPathOf(r *failoverRecord) string {
	var from *tunnel
	for _, t := range cn.tunnels {
		if t.number == r.from {
			from = t
		}
	}
	if from == nil {
		return returnPath(r)
	}
	o := tunnelAWS(cn.conn, from)
	if r.bgp {
		if o.DPDTimeoutAction == string(awsconf.DPDNone) {
			return returnPath(r) + fmt.Sprintf("; AWS's DPD on tunnel %d takes no action (DPDTimeoutAction none): without more-specifics only the BGP hold timer moves it", r.from)
		}
		return returnPath(r)
	}
	switch awsconf.DPDAction(o.DPDTimeoutAction) {
	case awsconf.DPDNone:
		return fmt.Sprintf("static routing, DPDTimeoutAction none: AWS never moves its return traffic off tunnel %d on DPD; it keeps the tunnel's SAs and sends replies over it until they are deleted (cgw deletes a tunnel left %v without a sign of life, which reaches AWS only if the path does) or expire (phase 2 lifetime %d s); over a lost path, replies are lost until then",
			r.from, sustainedLoss, from.spec.ChildLife/time.Second)
	case awsconf.DPDRestart:
		return fmt.Sprintf("static routing: AWS moves its return traffic off tunnel %d only when its DPD declares that tunnel dead (DPDTimeoutSeconds %d s: %d–%d s after it went silent), then clears its SAs and initiates the tunnel again (DPDTimeoutAction restart), which cgw accepts; until then replies come back over tunnel %d if it still carries them, or not at all",
			r.from, o.DPDTimeoutS, o.DPDTimeoutS-10, o.DPDTimeoutS, r.from)
	}
	return fmt.Sprintf("static routing: AWS moves its return traffic off tunnel %d only when its DPD declares that tunnel dead (DPDTimeoutSeconds %d s: %d–%d s after it went silent; DPDTimeoutAction clear: it clears its SAs and waits for cgw to initiate); until then replies come back over tunnel %d if it still carries them, or not at all",
		r.from, o.DPDTimeoutS, o.DPDTimeoutS-10, o.DPDTimeoutS, r.from)
}
