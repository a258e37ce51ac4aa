package gateway

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsFailover: the terminations counter and the last failover's
// unanswered span follow Status; the span is absent until it is measured.
func TestMetricsFailover(t *testing.T) {
	gather := func(s Status) map[string]float64 {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(newCollector(func() Status { return s }))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return got
	}
	span := 0.84
	got := gather(Status{Failovers: 1, Terminations: 2, LastFailover: &FailoverStatus{FromTunnel: 1, ToTunnel: 2, UnansweredS: &span}})
	if got["cgw_tunnel_terminations_total"] != 2 || got["cgw_failover_unanswered_seconds"] != 0.84 || got["cgw_failovers_total"] != 1 {
		t.Errorf("metrics %v", got)
	}
	got = gather(Status{Failovers: 1, LastFailover: &FailoverStatus{FromTunnel: 1, ToTunnel: 2}})
	if _, ok := got["cgw_failover_unanswered_seconds"]; ok {
		t.Errorf("an unanswered span before the first reply: %v", got)
	}
}
