package ike

import (
	"strconv"
	"time"

	"github.com/strongswan/govici/vici"
)

// An IKESA is one IKE_SA as charon's list-sas reports it.
type IKESA struct {
	Name        string // the connection name
	UniqueID    uint32
	State       string // CREATED, CONNECTING, ESTABLISHED, REKEYING, DELETING, …
	Version     int    // 1 or 2
	Initiator   bool   // this side initiated it (false: the peer, e.g. AWS, did)
	LocalHost   string
	LocalPort   int
	RemoteHost  string
	RemotePort  int
	LocalID     string
	RemoteID    string
	NATLocal    bool          // we are behind NAT (real detection, not libipsec's forced encapsulation)
	NATRemote   bool          // the peer appears behind NAT
	Established time.Duration // how long ago it was established; 0 when not yet
	EncrAlg     string        // "AES_CBC-256", "AES_GCM_16-128"
	IntegAlg    string        // "HMAC_SHA2_256_128", "" for GCM
	PRFAlg      string
	DHGroup     string // "MODP_2048", "ECP_384"
	Children    []ChildSA
}

// A ChildSA is one CHILD_SA (a pair of ESP SAs) of an IKE_SA.
type ChildSA struct {
	Name        string
	UniqueID    uint32
	ReqID       uint32
	State       string // INSTALLED, REKEYING, REKEYED, DELETING, …
	Encap       bool   // ESP in UDP (NAT-T)
	SPIIn       string // hex, as charon prints it
	SPIOut      string
	BytesIn     uint64
	BytesOut    uint64
	PacketsIn   uint64
	PacketsOut  uint64
	UseIn       *time.Duration // time since the last inbound packet; nil: none yet
	UseOut      *time.Duration
	InstallTime time.Duration // how long ago it was installed
	RekeyTime   time.Duration // time until charon rekeys it
	LifeTime    time.Duration // time until it expires
	LocalTS     []string
	RemoteTS    []string
	EncrAlg     string
	IntegAlg    string
	DHGroup     string // PFS group, "" without PFS
}

// parseIKESA reads one IKE_SA section of list-sas or an updown event.
func parseIKESA(name string, m *vici.Message) IKESA {
	sa := IKESA{
		Name:        name,
		UniqueID:    uint32(num(m, "uniqueid")),
		State:       str(m, "state"),
		Version:     int(num(m, "version")),
		Initiator:   str(m, "initiator") == "yes",
		LocalHost:   str(m, "local-host"),
		LocalPort:   int(num(m, "local-port")),
		RemoteHost:  str(m, "remote-host"),
		RemotePort:  int(num(m, "remote-port")),
		LocalID:     str(m, "local-id"),
		RemoteID:    str(m, "remote-id"),
		NATLocal:    str(m, "nat-local") == "yes",
		NATRemote:   str(m, "nat-remote") == "yes",
		Established: secs(m, "established"),
		EncrAlg:     alg(m),
		IntegAlg:    str(m, "integ-alg"),
		PRFAlg:      str(m, "prf-alg"),
		DHGroup:     str(m, "dh-group"),
	}
	if cs, ok := m.Get("child-sas").(*vici.Message); ok {
		for _, k := range cs.Keys() {
			if cm, ok := cs.Get(k).(*vici.Message); ok {
				sa.Children = append(sa.Children, parseChildSA(k, cm))
			}
		}
	}
	return sa
}

// parseChildSA reads one child-sas entry; charon keys them "name-uniqueid"
// and repeats the name inside.
func parseChildSA(key string, m *vici.Message) ChildSA {
	name := str(m, "name")
	if name == "" {
		name = key
	}
	return ChildSA{
		Name:        name,
		UniqueID:    uint32(num(m, "uniqueid")),
		ReqID:       uint32(num(m, "reqid")),
		State:       str(m, "state"),
		Encap:       str(m, "encap") == "yes",
		SPIIn:       str(m, "spi-in"),
		SPIOut:      str(m, "spi-out"),
		BytesIn:     num(m, "bytes-in"),
		BytesOut:    num(m, "bytes-out"),
		PacketsIn:   num(m, "packets-in"),
		PacketsOut:  num(m, "packets-out"),
		UseIn:       optSecs(m, "use-in"),
		UseOut:      optSecs(m, "use-out"),
		InstallTime: secs(m, "install-time"),
		RekeyTime:   secs(m, "rekey-time"),
		LifeTime:    secs(m, "life-time"),
		LocalTS:     strs(m, "local-ts"),
		RemoteTS:    strs(m, "remote-ts"),
		EncrAlg:     alg(m),
		IntegAlg:    str(m, "integ-alg"),
		DHGroup:     str(m, "dh-group"),
	}
}

func str(m *vici.Message, k string) string {
	s, _ := m.Get(k).(string)
	return s
}

func strs(m *vici.Message, k string) []string {
	switch v := m.Get(k).(type) {
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

func num(m *vici.Message, k string) uint64 {
	n, _ := strconv.ParseUint(str(m, k), 10, 64)
	return n
}

func secs(m *vici.Message, k string) time.Duration {
	return time.Duration(num(m, k)) * time.Second
}

func optSecs(m *vici.Message, k string) *time.Duration {
	if str(m, k) == "" {
		return nil
	}
	d := secs(m, k)
	return &d
}

// alg joins encr-alg and encr-keysize the way swanctl prints them.
func alg(m *vici.Message) string {
	a := str(m, "encr-alg")
	if ks := str(m, "encr-keysize"); a != "" && ks != "" {
		a += "-" + ks
	}
	return a
}
