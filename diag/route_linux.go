package diag

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// noRouteBack starts the Note a receiver writes when it cannot route a
// reply to the sender.
const noRouteBack = "no route back to "

// routeBack looks up the route to dst (`ip route get DST`) in netns ("" for
// the current one) and describes it as a Note summary.
func routeBack(dst netip.Addr, netns string) string {
	var routes []netlink.Route
	err := netnsrun.Named(netns, func() error {
		var err error
		routes, err = netlink.RouteGet(net.IP(dst.AsSlice()))
		return err
	})
	if err != nil {
		return fmt.Sprintf("%s%s: %v", noRouteBack, dst, err)
	}
	if len(routes) == 0 {
		return fmt.Sprintf("%s%s: no route", noRouteBack, dst)
	}
	r := routes[0]
	s := fmt.Sprintf("route back to %s:", dst)
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	if l, err := linkName(netns, r.LinkIndex); err == nil {
		s += " dev " + l
	}
	return s
}

func linkName(netns string, index int) (string, error) {
	var name string
	err := netnsrun.Named(netns, func() error {
		l, err := netlink.LinkByIndex(index)
		if err != nil {
			return err
		}
		name = l.Attrs().Name
		return nil
	})
	return name, err
}

// RouteDevice answers `ip route get DST [from SRC] [iif IIF]` in netns (""
// for the current one) with the device the kernel would send DST out of,
// policy rules included (charon's table 220). For traffic the gateway
// forwards from a host behind it, give that host's address as src and the
// inside interface as iif. It fills Observation.RouteDev; an error (no
// route, network unreachable) means RouteDev "".
func RouteDevice(dst, src netip.Addr, iif, netns string) (string, error) {
	opts := &netlink.RouteGetOptions{Iif: iif}
	if src.IsValid() {
		opts.SrcAddr = net.IP(src.AsSlice())
	}
	var dev string
	err := netnsrun.Named(netns, func() error {
		routes, err := netlink.RouteGetWithOptions(net.IP(dst.AsSlice()), opts)
		if err != nil {
			return err
		}
		if len(routes) == 0 {
			return fmt.Errorf("no route")
		}
		l, err := netlink.LinkByIndex(routes[0].LinkIndex)
		if err != nil {
			return fmt.Errorf("link %d: %w", routes[0].LinkIndex, err)
		}
		dev = l.Attrs().Name
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("route get %s: %w", dst, err)
	}
	return dev, nil
}
