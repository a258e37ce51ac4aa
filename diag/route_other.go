//go:build !linux

package diag

import "net/netip"

const noRouteBack = "no route back to "

// routeBack cannot look routes up off Linux.
func routeBack(dst netip.Addr, netns string) string {
	return "route back to " + dst.String() + ": unknown"
}

// RouteDevice is not supported off Linux.
func RouteDevice(dst, src netip.Addr, iif, netns string) (string, error) {
	return "", errNotSupported
}
