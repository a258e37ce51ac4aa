package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/ike"
)

// closedSAs records what closeDuplicates closes.
type closedSAs []string

func (c *closedSAs) TerminateIKESA(_ context.Context, name string, id uint32) error {
	*c = append(*c, fmt.Sprintf("%s ike %d", name, id))
	return nil
}

func (c *closedSAs) TerminateChildSA(_ context.Context, name string, id uint32) error {
	*c = append(*c, fmt.Sprintf("%s child %d", name, id))
	return nil
}

// The loop closes duplicates of a tunnel AWS initiates only once they have
// lasted dupGrace, keeps AWS's IKE_SA, forgets duplicates that went away
// meanwhile (AWS's own policy acted), and never touches a tunnel AWS does
// not initiate.
func TestCloseDuplicates(t *testing.T) {
	g := &Gateway{log: slog.New(slog.DiscardHandler)}
	name := "cgw-tunnel1"
	sa := func(id uint32, initiator bool) ike.IKESA {
		return ike.IKESA{Name: name, UniqueID: id, State: "ESTABLISHED", Initiator: initiator, Established: time.Second,
			Children: []ike.ChildSA{{Name: name, UniqueID: 10 * id, State: "INSTALLED"}}}
	}
	dup := []ike.IKESA{sa(1, true), sa(2, false)}
	one := []ike.IKESA{sa(2, false)}
	t0 := time.Now()
	steps := []struct {
		sas  []ike.IKESA
		at   time.Duration
		want []string
	}{
		{dup, 0, nil},                           // seen: the grace starts
		{dup, dupGrace - time.Millisecond, nil}, // not yet
		{one, dupGrace, nil},                    // AWS closed it meanwhile: forgotten
		{dup, dupGrace + time.Second, nil},      // a new duplicate: a new grace
		{dup, 2*dupGrace + time.Second, []string{name + " ike 1"}},
		{one, 2*dupGrace + 2*time.Second, nil},
	}
	tun := &tunnel{number: 1, spec: ike.Tunnel{Name: name, AWSInitiates: true}}
	for i, st := range steps {
		var got closedSAs
		g.closeDuplicates(context.Background(), &got, g.log, tun, st.sas, t0.Add(st.at))
		if diff := cmp.Diff(st.want, []string(got)); diff != "" {
			t.Errorf("step %d at %v (-want +got):\n%s", i, st.at, diff)
		}
	}
	var got closedSAs
	other := &tunnel{number: 2, spec: ike.Tunnel{Name: name}}
	for _, at := range []time.Duration{0, time.Minute} {
		g.closeDuplicates(context.Background(), &got, g.log, other, dup, t0.Add(at))
	}
	if len(got) != 0 {
		t.Errorf("closed %v on a tunnel AWS does not initiate", got)
	}
}
