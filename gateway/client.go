package gateway

import "github.com/cgw-project/cgw/ike"

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
