package gateway

import "github.com/vishvananda/netlink"

// familyV4 is the address family of netlink's IPv4 lists.
const familyV4 = netlink.FAMILY_V4
