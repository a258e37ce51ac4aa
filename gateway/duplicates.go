package gateway

import (
	"context"
	"time"

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
func (g *Gateway) closeDuplicates(ctx context.Context, c saCloser, t *tunnel, sas []ike.IKESA, now time.Time) {
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
		g.log.Info("closing a duplicate IKE_SA (cgw and AWS both initiated)", "tunnel", t.number, "ike_id", id)
		if err := c.TerminateIKESA(ctx, t.spec.Name, id); err != nil {
			g.log.Warn("closing a duplicate IKE_SA", "tunnel", t.number, "ike_id", id, "err", err)
		}
	}
	for _, id := range childIDs {
		g.log.Info("closing a duplicate CHILD_SA (cgw and AWS both initiated)", "tunnel", t.number, "child_id", id)
		if err := c.TerminateChildSA(ctx, t.spec.Name, id); err != nil {
			g.log.Warn("closing a duplicate CHILD_SA", "tunnel", t.number, "child_id", id, "err", err)
		}
	}
}
