//go:build !linux

package gateway

// familyV4 stands in for netlink.FAMILY_V4, which the netlink package
// defines only on Linux. Elsewhere every netlink.Handle method returns
// "not implemented", so the value is never sent anywhere.
const familyV4 = 2
