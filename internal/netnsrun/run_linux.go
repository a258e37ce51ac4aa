package netnsrun

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs f on a fresh goroutine whose OS thread has entered ns, and
// waits for it. A handle that is not open means the current namespace: f
// runs directly. If the thread cannot switch back it stays locked, so the
// runtime discards it with the goroutine instead of reusing a thread in
// the wrong namespace.
func Run(ns netns.NsHandle, f func() error) error {
	if !ns.IsOpen() {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
			return // the locked thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Named is Run in the namespace `ip netns` knows as name (/run/netns/NAME);
// "" means the current namespace.
func Named(name string, f func() error) error {
	if name == "" {
		return f()
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer ns.Close()
	var ferr error
	if err := Run(ns, func() error { ferr = f(); return nil }); err != nil {
		return errors.Join(ferr, fmt.Errorf("network namespace %q: %w", name, err))
	}
	return ferr // as f said it, without the namespace
}

// Path is Run in the namespace at path (e.g. /proc/PID/ns/net); "" means
// the current namespace.
func Path(path string, f func() error) error {
	if path == "" {
		return f()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return Run(ns, f)
}
