package gateway

import (
	"context"
	"fmt"
	"io"

	"github.com/cgw-project/cgw/ike"
)

// What clients of the daemon (cgw diagnose, package diag/live) need of
// its own judgement and naming, so that they read the daemon's world the
// way it does without the daemon knowing them.

// XFRMInterface is the name of tunnel n's XFRM interface in the kernel
// data plane (`ip link show cgw-xfrmN`).
func XFRMInterface(n int) string { return xfrmName(n) }

// SAUp reports whether charon's IKE_SA sa carries traffic as the daemon
// judges it: established (or rekeying) with its CHILD_SA of the same name
// installed.
func SAUp(sa *ike.IKESA) bool { return saUp(sa, sa.Name) }

// QueryStatusJSON returns the status document of the cgw on the status
// socket as it is served (`cgw status --json`), for clients that read
// fields newer than this build's Status (a status with connections[]).
func QueryStatusJSON(ctx context.Context, socket string) ([]byte, error) {
	resp, err := getStatus(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", socket, err)
	}
	return b, nil
}
