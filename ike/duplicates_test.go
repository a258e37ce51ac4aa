package ike

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExtras(t *testing.T) {
	child := func(name string, id uint32, state string, age time.Duration) ChildSA {
		return ChildSA{Name: name, UniqueID: id, State: state, InstallTime: age}
	}
	up := func(id uint32, initiator bool, age time.Duration, children ...ChildSA) IKESA {
		if children == nil {
			children = []ChildSA{child("cgw-tunnel1", id*10, "INSTALLED", age)}
		}
		return IKESA{Name: "cgw-tunnel1", UniqueID: id, State: "ESTABLISHED", Initiator: initiator, Established: age, Children: children}
	}
	tests := []struct {
		name           string
		sas            []IKESA
		children       []string
		wantIKE, wantC []uint32
	}{
		{name: "one SA", sas: []IKESA{up(1, true, time.Minute)}},
		{name: "both initiated at once: AWS's is kept", sas: []IKESA{up(1, true, 5*time.Second), up(2, false, 5*time.Second)}, wantIKE: []uint32{1}},
		{name: "AWS's is kept even when younger", sas: []IKESA{up(2, false, time.Second), up(1, true, 9*time.Second)}, wantIKE: []uint32{1}},
		{name: "the one with its child is kept", sas: []IKESA{up(1, true, 5*time.Second), up(2, false, 9*time.Second, child("cgw-tunnel1", 7, "REKEYING", 0))}, wantIKE: []uint32{2}},
		{name: "both ours: the oldest", sas: []IKESA{up(3, true, 2*time.Second), up(4, true, 9*time.Second)}, wantIKE: []uint32{3}},
		{name: "same age: lowest id", sas: []IKESA{up(4, false, time.Second), up(3, false, time.Second)}, wantIKE: []uint32{4}},
		{name: "not established, other names and states ignored", sas: []IKESA{
			up(1, true, time.Minute), {Name: "cgw-tunnel1", UniqueID: 2, State: "CONNECTING"}, {Name: "cgw-tunnel1", UniqueID: 3, State: "DELETING"},
			{Name: "cgw-tunnel2", UniqueID: 4, State: "ESTABLISHED"},
		}},
		{name: "two children in one IKE_SA: the oldest stays", sas: []IKESA{up(1, false, time.Minute,
			child("cgw-tunnel1", 11, "INSTALLED", time.Second), child("cgw-tunnel1", 12, "INSTALLED", 30*time.Second),
			child("cgw-tunnel1", 13, "REKEYED", time.Minute), child("cgw-tunnel1-bgp", 14, "INSTALLED", time.Second))},
			children: []string{"cgw-tunnel1", "cgw-tunnel1-bgp"}, wantC: []uint32{11}},
		{name: "inside child twice", sas: []IKESA{up(1, false, time.Minute,
			child("cgw-tunnel1", 11, "INSTALLED", time.Second), child("cgw-tunnel1-bgp", 15, "INSTALLED", time.Second), child("cgw-tunnel1-bgp", 14, "INSTALLED", time.Second))},
			children: []string{"cgw-tunnel1", "cgw-tunnel1-bgp"}, wantC: []uint32{15}},
		{name: "children of the SA that goes are not counted", sas: []IKESA{up(1, true, time.Minute), up(2, false, time.Minute)}, wantIKE: []uint32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ike, kids := Extras(tt.sas, "cgw-tunnel1", tt.children...)
			if diff := cmp.Diff(tt.wantIKE, ike); diff != "" {
				t.Errorf("IKE_SAs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantC, kids); diff != "" {
				t.Errorf("CHILD_SAs (-want +got):\n%s", diff)
			}
			// The choice does not depend on the order charon lists them.
			shuffled := append([]IKESA(nil), tt.sas...)
			rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if ike2, kids2 := Extras(shuffled, "cgw-tunnel1", tt.children...); !cmp.Equal(ike, ike2) || !cmp.Equal(kids, kids2) {
				t.Errorf("shuffled: %v %v, in order: %v %v", ike2, kids2, ike, kids)
			}
		})
	}
}

// The message-level fake: list-sas reports the "initiator" flag charon
// sets, Extras picks our own IKE_SA and a duplicate child, and
// TerminateIKESA and TerminateChildSA send terminate with ike-id and
// child-id, force and the 3 s timeout; an SA already gone is not an error.
func TestTerminateDuplicatesOverVICI(t *testing.T) {
	var mu sync.Mutex
	var terminated []string
	c, _ := dialFake(t, func(cmd string, req []kv) ([]fakeEvent, []kv) {
		switch cmd {
		case "list-sas":
			return []fakeEvent{
				{"list-sa", []kv{{"cgw-tunnel1", []kv{{"uniqueid", "7"}, {"state", "ESTABLISHED"}, {"initiator", "yes"}, {"established", "3"},
					{"child-sas", []kv{{"cgw-tunnel1-70", []kv{{"name", "cgw-tunnel1"}, {"uniqueid", "70"}, {"state", "INSTALLED"}}}}}}}}},
				{"list-sa", []kv{{"cgw-tunnel1", []kv{{"uniqueid", "8"}, {"state", "ESTABLISHED"}, {"established", "3"},
					{"child-sas", []kv{
						{"cgw-tunnel1-80", []kv{{"name", "cgw-tunnel1"}, {"uniqueid", "80"}, {"state", "INSTALLED"}, {"install-time", "3"}}},
						{"cgw-tunnel1-81", []kv{{"name", "cgw-tunnel1"}, {"uniqueid", "81"}, {"state", "INSTALLED"}, {"install-time", "1"}}},
					}}}}}},
			}, []kv{}
		case "terminate":
			if get(req, "force") != "yes" || get(req, "timeout") != "3000" {
				return nil, []kv{{"success", "no"}, {"errmsg", "bad request"}}
			}
			mu.Lock()
			terminated = append(terminated, fmt.Sprintf("ike-id=%s child-id=%s", get(req, "ike-id"), get(req, "child-id")))
			mu.Unlock()
			if get(req, "child-id") == "99" {
				return nil, []kv{{"success", "no"}, {"errmsg", "no matching SAs to terminate found"}}
			}
			return nil, []kv{{"success", "yes"}}
		}
		return nil, nil
	})
	ctx := context.Background()
	sas, err := c.SAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sas[0].Initiator || sas[1].Initiator {
		t.Fatalf("initiator flags %t, %t; want true, false", sas[0].Initiator, sas[1].Initiator)
	}
	ike, kids := Extras(sas, "cgw-tunnel1")
	if !cmp.Equal(ike, []uint32{7}) || !cmp.Equal(kids, []uint32{81}) {
		t.Fatalf("Extras = %v, %v; want [7], [81]", ike, kids)
	}
	for _, id := range ike {
		if err := c.TerminateIKESA(ctx, "cgw-tunnel1", id); err != nil {
			t.Error(err)
		}
	}
	for _, id := range append(kids, 99) {
		if err := c.TerminateChildSA(ctx, "cgw-tunnel1", id); err != nil {
			t.Error(err)
		}
	}
	if err := c.TerminateIKESA(ctx, "other", 1); err == nil {
		t.Error("TerminateIKESA of a connection that is not cgw's: no error")
	}
	want := []string{"ike-id=7 child-id=", "ike-id= child-id=81", "ike-id= child-id=99"}
	if diff := cmp.Diff(want, terminated); diff != "" {
		t.Errorf("terminate requests (-want +got):\n%s", diff)
	}
}
