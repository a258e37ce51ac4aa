package diag

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// noRouteBack starts the Note a receiver writes when it cannot route a
// reply to the sender.
const noRouteBack = "no route back to "

// routeBack looks up the route to dst (`ip route get DST`) in netns ("" for
// the current one) and describes it as a Note summary.
func routeBack(dst netip.Addr, netns string) string {
	var routes []netlink.Route
	err := inNetns(netns, func() error {
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
	err := inNetns(netns, func() error {
		l, err := netlink.LinkByIndex(index)
		if err != nil {
			return err
		}
		name = l.Attrs().Name
		return nil
	})
	return name, err
}
