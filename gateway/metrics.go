package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// collector exports Status as Prometheus metrics at scrape time, so the
// metrics always agree with `cgw status`.
type collector struct {
	status func() Status

	up, ready, active, bytesIn, bytesOut, pktsIn, pktsOut, uptime, reconnects *prometheus.Desc
	failovers, probeLost, probeRTT, probeSent, probeReplies                   *prometheus.Desc
	terminations, unanswered                                                  *prometheus.Desc
	// Path probes (bgp.ecmp on the kernel data plane).
	pathOut, pathSent, pathReplies *prometheus.Desc
	// BGP (routing bgp only).
	bgpEstablished, bgpUptime, bgpReceived, bgpAccepted, bgpAdvertised, bgpInstalled *prometheus.Desc
	bgpSteerTunnel, bgpMoreSpecifics, bgpAdvertiseLimit                              *prometheus.Desc
}

// newCollector exports what status returns (the Gateway's Status).
func newCollector(status func() Status) *collector {
	// Every series about a connection or a tunnel names the connection;
	// tunnel is the AWS tunnel number within it (1, 2).
	tl := []string{"connection", "tunnel", "aws_endpoint"}
	cl := []string{"connection"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("cgw_"+name, help, labels, nil)
	}
	return &collector{
		status:       status,
		up:           d("tunnel_up", "1 when the tunnel's IKE SA is established and its CHILD SA installed (like CloudWatch TunnelState), else 0.", tl),
		active:       d("tunnel_active", "1 for the tunnel that carries traffic to the VPC.", tl),
		bytesIn:      d("tunnel_sa_bytes_in", "Bytes received on the tunnel's current CHILD SA (resets on rekey).", tl),
		bytesOut:     d("tunnel_sa_bytes_out", "Bytes sent on the tunnel's current CHILD SA (resets on rekey).", tl),
		pktsIn:       d("tunnel_sa_packets_in", "Packets received on the tunnel's current CHILD SA (resets on rekey).", tl),
		pktsOut:      d("tunnel_sa_packets_out", "Packets sent on the tunnel's current CHILD SA (resets on rekey).", tl),
		uptime:       d("tunnel_uptime_seconds", "Seconds since the tunnel's IKE SA was established.", tl),
		ready:        d("ready", "1 once every tunnel is loaded into charon.", nil),
		reconnects:   d("charon_reconnects_total", "Times cgw lost charon's VICI socket and reconnected.", nil),
		failovers:    d("failovers_total", "Times cgw moved traffic off a tunnel whose path was lost.", cl),
		terminations: d("tunnel_terminations_total", "Tunnels cgw terminated after 60 s without a sign of life once traffic had left them (never for lost probes alone).", cl),
		unanswered:   d("failover_unanswered_seconds", "For the last failover: how long the probes went unanswered, from the first lost probe to the first reply over the new tunnel (both directions, AWS's return path included).", cl),
		probeLost:    d("probe_lost", "1 while the probes to the monitors go unanswered.", cl),
		probeRTT:     d("probe_rtt_seconds", "Round-trip time of the last answered probe to a monitor.", cl),
		probeSent:    d("probe_sent_total", "Echo requests sent to the monitors.", cl),
		probeReplies: d("probe_replies_total", "Echo replies received from the monitors.", cl),
		pathOut:      d("tunnel_path_out", "1 while the tunnel's own probes (sent out of its XFRM interface; bgp.ecmp) go unanswered and the other tunnel's are answered: it is out of the multipath routes.", tl),
		pathSent:     d("tunnel_path_probe_sent_total", "Echo requests to the monitors sent out of the tunnel's XFRM interface (bgp.ecmp).", tl),
		pathReplies:  d("tunnel_path_probe_replies_total", "Echo replies to the requests sent out of the tunnel's XFRM interface (bgp.ecmp).", tl),

		bgpEstablished:    d("bgp_session_established", "1 when the tunnel's BGP session is established, else 0 (AWS shows a BGP tunnel DOWN without it, even with IPsec up).", tl),
		bgpUptime:         d("bgp_session_uptime_seconds", "Seconds since the tunnel's BGP session was established, 0 when it is not.", tl),
		bgpReceived:       d("bgp_prefixes_received", "Prefixes AWS announces over the tunnel's BGP session.", tl),
		bgpAccepted:       d("bgp_prefixes_accepted", "Prefixes received over the tunnel's BGP session that lie within remote_networks.", tl),
		bgpAdvertised:     d("bgp_prefixes_advertised", "Prefixes cgw announces to AWS over the tunnel's BGP session.", tl),
		bgpInstalled:      d("bgp_routes_installed", "Prefixes learned over BGP that cgw routes into the tunnels.", cl),
		bgpSteerTunnel:    d("bgp_steer_tunnel", "The tunnel over which cgw announces more-specifics to steer AWS's return path, 0 when none.", cl),
		bgpMoreSpecifics:  d("bgp_more_specifics", "More-specifics cgw announces to steer AWS's return path.", cl),
		bgpAdvertiseLimit: d("bgp_advertise_limit", "AWS's limit on prefixes announced per BGP session (more-specifics included).", cl),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.active, c.bytesIn, c.bytesOut, c.pktsIn, c.pktsOut, c.uptime, c.ready, c.reconnects,
		c.failovers, c.terminations, c.unanswered, c.probeLost, c.probeRTT, c.probeSent, c.probeReplies,
		c.pathOut, c.pathSent, c.pathReplies,
		c.bgpEstablished, c.bgpUptime, c.bgpReceived, c.bgpAccepted, c.bgpAdvertised, c.bgpInstalled,
		c.bgpSteerTunnel, c.bgpMoreSpecifics, c.bgpAdvertiseLimit} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	conns := s.Connections
	if len(conns) == 0 {
		// A Status of one connection without the list (an older one).
		conns = []ConnectionStatus{{Name: s.VPNConnectionID, VPNConnectionID: s.VPNConnectionID, Routing: s.Routing, Tunnels: s.Tunnels,
			ActiveTunnel: s.ActiveTunnel, Failovers: s.Failovers, Terminations: s.Terminations, LastFailover: s.LastFailover,
			Probe: s.Probe, BGPRoutes: s.BGPRoutes, BGPSteering: s.BGPSteering}}
	}
	for _, cs := range conns {
		c.collectConnection(ch, cs, b)
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, b(s.Ready))
	ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.CharonReconnects))
}

// collectConnection exports one connection's series.
func (c *collector) collectConnection(ch chan<- prometheus.Metric, s ConnectionStatus, b func(bool) float64) {
	cl := []string{s.Name}
	for _, t := range s.Tunnels {
		l := []string{s.Name, strconv.Itoa(t.Number), t.AWSEndpoint}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, b(t.Up), l...)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, b(t.Number == s.ActiveTunnel), l...)
		ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.GaugeValue, float64(t.BytesIn), l...)
		ch <- prometheus.MustNewConstMetric(c.bytesOut, prometheus.GaugeValue, float64(t.BytesOut), l...)
		ch <- prometheus.MustNewConstMetric(c.pktsIn, prometheus.GaugeValue, float64(t.PacketsIn), l...)
		ch <- prometheus.MustNewConstMetric(c.pktsOut, prometheus.GaugeValue, float64(t.PacketsOut), l...)
		ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, float64(t.UptimeS), l...)
		if pp := t.PathProbe; pp != nil {
			ch <- prometheus.MustNewConstMetric(c.pathOut, prometheus.GaugeValue, b(pp.OutOfECMP), l...)
			ch <- prometheus.MustNewConstMetric(c.pathSent, prometheus.CounterValue, float64(pp.Sent), l...)
			ch <- prometheus.MustNewConstMetric(c.pathReplies, prometheus.CounterValue, float64(pp.Replies), l...)
		}
		if bg := t.BGP; bg != nil && s.Routing == string(awsconf.RoutingBGP) {
			established := bg.State == "established"
			up := 0.0
			if established {
				up = float64(bg.UptimeS)
			}
			ch <- prometheus.MustNewConstMetric(c.bgpEstablished, prometheus.GaugeValue, b(established), l...)
			ch <- prometheus.MustNewConstMetric(c.bgpUptime, prometheus.GaugeValue, up, l...)
			ch <- prometheus.MustNewConstMetric(c.bgpReceived, prometheus.GaugeValue, float64(bg.Received), l...)
			ch <- prometheus.MustNewConstMetric(c.bgpAccepted, prometheus.GaugeValue, float64(bg.Accepted), l...)
			ch <- prometheus.MustNewConstMetric(c.bgpAdvertised, prometheus.GaugeValue, float64(bg.Advertised), l...)
		}
	}
	if s.Routing == string(awsconf.RoutingBGP) {
		n := 0
		for _, r := range s.BGPRoutes {
			if r.Installed {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.bgpInstalled, prometheus.GaugeValue, float64(n), cl...)
		if st := s.BGPSteering; st != nil {
			ch <- prometheus.MustNewConstMetric(c.bgpSteerTunnel, prometheus.GaugeValue, float64(st.Tunnel), cl...)
			ch <- prometheus.MustNewConstMetric(c.bgpMoreSpecifics, prometheus.GaugeValue, float64(len(st.Prefixes)), cl...)
			ch <- prometheus.MustNewConstMetric(c.bgpAdvertiseLimit, prometheus.GaugeValue, float64(st.Limit), cl...)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.failovers, prometheus.CounterValue, float64(s.Failovers), cl...)
	ch <- prometheus.MustNewConstMetric(c.terminations, prometheus.CounterValue, float64(s.Terminations), cl...)
	if f := s.LastFailover; f != nil && f.UnansweredS != nil {
		ch <- prometheus.MustNewConstMetric(c.unanswered, prometheus.GaugeValue, *f.UnansweredS, cl...)
	}
	if p := s.Probe; p != nil {
		ch <- prometheus.MustNewConstMetric(c.probeLost, prometheus.GaugeValue, b(p.Lost), cl...)
		ch <- prometheus.MustNewConstMetric(c.probeRTT, prometheus.GaugeValue, p.RTTMs/1000, cl...)
		ch <- prometheus.MustNewConstMetric(c.probeSent, prometheus.CounterValue, float64(p.Sent), cl...)
		ch <- prometheus.MustNewConstMetric(c.probeReplies, prometheus.CounterValue, float64(p.Replies), cl...)
	}
}

// MetricsAddr returns the address /metrics listens on ("127.0.0.1:9810";
// with metrics_listen port 0, the port the kernel chose), or "" before it
// listens or without metrics_listen. Safe for concurrent use.
func (g *Gateway) MetricsAddr() string {
	if a := g.metricsAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// serveMetrics serves /metrics on l until ctx ends.
func (g *Gateway) serveMetrics(ctx context.Context, l net.Listener) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(g.Status), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	g.serveHTTP(ctx, l, mux, "metrics listener")
}
