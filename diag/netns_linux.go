package diag

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on a thread switched into the named network namespace
// (`ip netns exec NAME`), or directly when name is empty. Sockets fn opens
// stay in that namespace after the thread switches back. If switching back
// fails the thread stays locked, so the Go runtime retires it with the
// goroutine instead of reusing a thread in the wrong namespace.
func inNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %q: %w", name, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("leave network namespace %q: %w", name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
