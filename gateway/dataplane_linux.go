package gateway

import (
	"errors"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// resolveDataplane turns auto into kernel or libipsec and says why.
func resolveDataplane(d Dataplane) (Dataplane, string) {
	if d != DataplaneAuto {
		return d, "configured"
	}
	if err := kernelESP(); err != nil {
		return DataplaneLibIPsec, "auto: the kernel cannot hold ESP states (" + err.Error() + "); using charon's userspace ESP (kernel-libipsec)"
	}
	return DataplaneKernel, "auto: the kernel holds ESP states"
}

// kernelESP reports whether the kernel can hold an ESP state, by adding
// one in a throwaway network namespace (nothing in the host's namespace is
// touched). It needs CAP_NET_ADMIN.
func kernelESP() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	ns, err := netns.New() // switches this thread into the new namespace
	if err != nil {
		return err
	}
	defer func() {
		_ = netns.Set(orig)
		ns.Close() // the namespace dies with its last reference
	}()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	st := &netlink.XfrmState{
		Src:   net.ParseIP("192.0.2.1"),
		Dst:   net.ParseIP("192.0.2.2"),
		Proto: netlink.XFRM_PROTO_ESP,
		Mode:  netlink.XFRM_MODE_TUNNEL,
		Spi:   0x100,
		Auth:  &netlink.XfrmStateAlgo{Name: "hmac(sha256)", Key: make([]byte, 32), TruncateLen: 128},
		Crypt: &netlink.XfrmStateAlgo{Name: "cbc(aes)", Key: make([]byte, 16)},
	}
	if err := h.XfrmStateAdd(st); err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOPROTOOPT) {
			return errors.New("no ESP in this kernel")
		}
		return err
	}
	return nil
}
