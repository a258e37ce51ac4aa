package gateway

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks systemd's notify protocol (Type=notify, WatchdogSec)
// when NOTIFY_SOCKET is set, and does nothing otherwise.
type notifier struct {
	log      *slog.Logger
	watchdog time.Duration // WATCHDOG_USEC, 0 when off
	last     time.Time     // last WATCHDOG=1
	status   string        // last STATUS= sent
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil {
		n.watchdog = d
	}
	return n
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify failed", "state", state, "err", err)
	}
}

// ready tells systemd the service is up: every tunnel is loaded.
func (n *notifier) ready() { n.send(daemon.SdNotifyReady) }

// reloading and stopping bracket a reload and announce the stop.
func (n *notifier) reloading() {
	n.send(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + daemon.SdNotifyMonotonicUsec())
}
func (n *notifier) stopping() { n.send(daemon.SdNotifyStopping) }

// alive feeds the watchdog from the reconcile loop (at a third of the
// timeout) and keeps STATUS= current.
func (n *notifier) alive(now time.Time, up, total int) {
	if n.watchdog > 0 && now.Sub(n.last) >= n.watchdog/3 {
		n.send(daemon.SdNotifyWatchdog)
		n.last = now
	}
	if s := fmt.Sprintf("%d of %d tunnels up", up, total); s != n.status {
		n.send("STATUS=" + s)
		n.status = s
	}
}
