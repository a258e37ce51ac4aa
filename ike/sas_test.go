package ike

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"
)

func mustMessage(t *testing.T, v map[string]any) *vici.Message {
	t.Helper()
	m, err := vici.MarshalMessage(v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ikeSection is an IKE_SA as charon 5.9.8's list-sas sends it (from a
// run in the lab, values shortened).
func ikeSection(children map[string]any) map[string]any {
	return map[string]any{
		"uniqueid": "3", "version": "2", "state": "ESTABLISHED",
		"local-host": "192.168.0.10", "local-port": "4500", "local-id": "198.51.100.50",
		"remote-host": "203.0.113.10", "remote-port": "4500", "remote-id": "203.0.113.10",
		"initiator": "yes", "nat-local": "yes", "nat-remote": "yes", "nat-any": "yes",
		"encr-alg": "AES_CBC", "encr-keysize": "256", "integ-alg": "HMAC_SHA2_256_128",
		"prf-alg": "PRF_HMAC_SHA2_256", "dh-group": "MODP_2048",
		"established": "42", "rekey-time": "25000",
		"child-sas": children,
	}
}

var childSection = map[string]any{
	"name": "cgw-tunnel1", "uniqueid": "5", "reqid": "1", "state": "INSTALLED",
	"mode": "TUNNEL", "protocol": "ESP", "encap": "yes",
	"spi-in": "c1a2b3c4", "spi-out": "d1e2f3a4",
	"encr-alg": "AES_GCM_16", "encr-keysize": "128", "dh-group": "ECP_384",
	"bytes-in": "840", "packets-in": "10", "use-in": "3",
	"bytes-out": "1680", "packets-out": "20",
	"rekey-time": "3000", "life-time": "3540", "install-time": "60",
	"local-ts": []string{"172.31.16.0/20"}, "remote-ts": []string{"10.10.100.0/24"},
}

var wantIKESA = IKESA{
	Name: "cgw-tunnel1", UniqueID: 3, State: "ESTABLISHED", Version: 2, Initiator: true,
	LocalHost: "192.168.0.10", LocalPort: 4500, RemoteHost: "203.0.113.10", RemotePort: 4500,
	LocalID: "198.51.100.50", RemoteID: "203.0.113.10", NATLocal: true, NATRemote: true,
	Established: 42 * time.Second, EncrAlg: "AES_CBC-256", IntegAlg: "HMAC_SHA2_256_128",
	PRFAlg: "PRF_HMAC_SHA2_256", DHGroup: "MODP_2048",
}

func wantChild() ChildSA {
	useIn := 3 * time.Second
	return ChildSA{
		Name: "cgw-tunnel1", UniqueID: 5, ReqID: 1, State: "INSTALLED", Encap: true,
		SPIIn: "c1a2b3c4", SPIOut: "d1e2f3a4", BytesIn: 840, BytesOut: 1680, PacketsIn: 10, PacketsOut: 20,
		UseIn: &useIn, UseOut: nil,
		InstallTime: 60 * time.Second, RekeyTime: 3000 * time.Second, LifeTime: 3540 * time.Second,
		LocalTS: []string{"172.31.16.0/20"}, RemoteTS: []string{"10.10.100.0/24"},
		EncrAlg: "AES_GCM_16-128", DHGroup: "ECP_384",
	}
}

func TestParseIKESA(t *testing.T) {
	m := mustMessage(t, ikeSection(map[string]any{"cgw-tunnel1-5": childSection}))
	got := parseIKESA("cgw-tunnel1", m)
	want := wantIKESA
	want.Children = []ChildSA{wantChild()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseIKESA (-want +got):\n%s", diff)
	}
}

func TestParseEvent(t *testing.T) {
	now := time.Now()
	rekeyChild := map[string]any{"cgw-tunnel1-5": map[string]any{"old": map[string]any{"name": "cgw-tunnel1", "uniqueid": "4"}, "new": childSection}}
	tests := []struct {
		name string
		ev   vici.Event
		want Event
		ok   bool
	}{
		{
			name: "child up",
			ev: vici.Event{Name: "child-updown", Timestamp: now, Message: mustMessage(t, map[string]any{
				"up": "yes", "cgw-tunnel1": ikeSection(map[string]any{"cgw-tunnel1-5": childSection}),
			})},
			want: Event{Type: EventChildUpDown, Time: now, Up: true, SA: func() IKESA { s := wantIKESA; s.Children = []ChildSA{wantChild()}; return s }()},
			ok:   true,
		},
		{
			name: "IKE down has no up key",
			ev: vici.Event{Name: "ike-updown", Timestamp: now, Message: mustMessage(t, map[string]any{
				"cgw-tunnel1": ikeSection(nil),
			})},
			want: Event{Type: EventIKEUpDown, Time: now, Up: false, SA: wantIKESA},
			ok:   true,
		},
		{
			name: "IKE rekey reports the new SA",
			ev: vici.Event{Name: "ike-rekey", Timestamp: now, Message: mustMessage(t, map[string]any{
				"cgw-tunnel1": map[string]any{"old": map[string]any{"uniqueid": "2"}, "new": ikeSection(nil)},
			})},
			want: Event{Type: EventIKERekey, Time: now, SA: wantIKESA},
			ok:   true,
		},
		{
			name: "child rekey reports the new child",
			ev: vici.Event{Name: "child-rekey", Timestamp: now, Message: mustMessage(t, map[string]any{
				"cgw-tunnel1": ikeSection(rekeyChild),
			})},
			want: Event{Type: EventChildRekey, Time: now, SA: func() IKESA { s := wantIKESA; s.Children = []ChildSA{wantChild()}; return s }()},
			ok:   true,
		},
		{
			name: "other events are dropped",
			ev:   vici.Event{Name: "log", Timestamp: now, Message: mustMessage(t, map[string]any{"x": map[string]any{"a": "b"}})},
			want: Event{Type: "log", Time: now},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseEvent(tt.ev)
			if ok != tt.ok {
				t.Fatalf("parseEvent ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseEvent (-want +got):\n%s", diff)
			}
		})
	}
}
