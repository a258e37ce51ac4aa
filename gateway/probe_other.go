//go:build !linux

package gateway

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// prober needs raw ICMP sockets in a network namespace: Linux only.
type prober struct{ lost chan struct{} }

func newProber(string, netip.Addr, []netip.Addr, time.Duration, time.Duration) (*prober, error) {
	return nil, errors.New("monitor probes are not supported on this platform")
}
func (p *prober) run(context.Context)                               {}
func (p *prober) reset(time.Time)                                   {}
func (p *prober) setMonitors([]netip.Addr, time.Time)               {}
func (p *prober) setTiming(time.Duration, time.Duration, time.Time) {}
func (p *prober) setCarried(bool, time.Time)                        {}
func (p *prober) view(time.Time) healthView                         { return healthView{} }
func (p *prober) setVia(string)                                     {}
