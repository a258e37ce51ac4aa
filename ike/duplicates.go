package ike

import "slices"

// Extras returns the SAs of connection name that duplicate another: every
// ESTABLISHED IKE_SA of name but one, and within the IKE_SAs that stay,
// every INSTALLED CHILD_SA named one of children but one per name. Two
// IKE_SAs come up when cgw and AWS initiate a tunnel at the same moment
// (Tunnel.AWSInitiates); closing the extras leaves exactly one IKE_SA and
// one CHILD_SA of each child.
//
// The IKE_SA kept is, in order: one whose data child (named name) is
// INSTALLED; one the peer initiated (AWS's, which AWS keeps too if its own
// uniqueness policy acts); the oldest; the lowest unique id. The CHILD_SA
// kept is the oldest, then the lowest unique id. Extras is pure: callers
// decide when to act (the reconcile loop waits until a duplicate has
// lasted a while, so AWS's own policy goes first).
func Extras(sas []IKESA, name string, children ...string) (ikeIDs, childIDs []uint32) {
	var est []*IKESA
	for i := range sas {
		if sas[i].Name == name && sas[i].State == "ESTABLISHED" {
			est = append(est, &sas[i])
		}
	}
	if len(est) == 0 {
		return nil, nil
	}
	up := func(sa *IKESA) bool {
		return slices.ContainsFunc(sa.Children, func(c ChildSA) bool { return c.Name == name && c.State == "INSTALLED" })
	}
	keep := est[0]
	for _, sa := range est[1:] {
		if better(sa, keep, up) {
			keep = sa
		}
	}
	for _, sa := range est {
		if sa != keep {
			ikeIDs = append(ikeIDs, sa.UniqueID)
		}
	}
	if len(children) == 0 {
		children = []string{name}
	}
	for _, child := range children {
		var kept *ChildSA
		var extra []uint32
		for i := range keep.Children {
			c := &keep.Children[i]
			if c.Name != child || c.State != "INSTALLED" {
				continue
			}
			switch {
			case kept == nil:
				kept = c
			case c.InstallTime > kept.InstallTime || c.InstallTime == kept.InstallTime && c.UniqueID < kept.UniqueID:
				extra = append(extra, kept.UniqueID)
				kept = c
			default:
				extra = append(extra, c.UniqueID)
			}
		}
		childIDs = append(childIDs, extra...)
	}
	slices.Sort(ikeIDs)
	slices.Sort(childIDs)
	return ikeIDs, childIDs
}

// better reports whether IKE_SA a is a better one to keep than b.
func better(a, b *IKESA, up func(*IKESA) bool) bool {
	if up(a) != up(b) {
		return up(a)
	}
	if a.Initiator != b.Initiator {
		return !a.Initiator
	}
	if a.Established != b.Established {
		return a.Established > b.Established
	}
	return a.UniqueID < b.UniqueID
}
