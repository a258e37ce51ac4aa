package ike

import (
	"context"
	"errors"
	"time"

	"github.com/strongswan/govici/vici"
)

// An EventType names a charon event Events delivers.
type EventType string

// The events Events subscribes to.
const (
	EventIKEUpDown   EventType = "ike-updown"
	EventChildUpDown EventType = "child-updown"
	EventIKERekey    EventType = "ike-rekey"
	EventChildRekey  EventType = "child-rekey"
)

// An Event is one SA state change charon reported.
type Event struct {
	Type EventType
	Time time.Time
	// Up is true for an updown event that brought the SA up; down events
	// carry no "up" key and give false. Rekey events leave it false.
	Up bool
	// SA is the IKE_SA concerned. For child events its Children hold the
	// CHILD_SA(s) concerned; for rekey events SA (or each child) is the
	// new one.
	SA IKESA
}

// Events subscribes, on a session of its own, to ike-updown,
// child-updown, ike-rekey and child-rekey (like swanctl --monitor-sa). The
// channel closes when ctx ends, when c is closed or when the session dies
// (charon went away: redial). Events that arrive while the receiver lags
// far behind are dropped by govici.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	c.mu.Lock()
	err := c.usableLocked("subscribe")
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}

	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	raw := make(chan vici.Event, 128)
	s.NotifyEvents(raw)
	names := []string{string(EventIKEUpDown), string(EventChildUpDown), string(EventIKERekey), string(EventChildRekey)}
	if err := s.Subscribe(names...); err != nil {
		s.Close()
		if isClosed(err) {
			return nil, &closedError{op: "subscribe", err: err}
		}
		return nil, &Error{Command: "subscribe", Message: err.Error()}
	}

	c.subsMu.Lock()
	if c.closed.Load() {
		c.subsMu.Unlock()
		s.Close()
		return nil, &closedError{op: "subscribe", err: errors.New("client closed")}
	}
	c.subs[s] = struct{}{}
	c.subsMu.Unlock()

	out := make(chan Event, 16)
	go func() {
		defer close(out)
		defer func() {
			c.subsMu.Lock()
			delete(c.subs, s)
			c.subsMu.Unlock()
			s.Close()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-raw:
				if !ok {
					return
				}
				e, ok := parseEvent(ev)
				if !ok {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// parseEvent reads an updown or rekey event message.
func parseEvent(ev vici.Event) (Event, bool) {
	e := Event{Type: EventType(ev.Name), Time: ev.Timestamp}
	m := ev.Message
	if m == nil {
		return e, false
	}
	e.Up = str(m, "up") == "yes"
	for _, k := range m.Keys() {
		sm, ok := m.Get(k).(*vici.Message)
		if !ok {
			continue
		}
		switch e.Type {
		case EventIKEUpDown, EventChildUpDown:
			e.SA = parseIKESA(k, sm)
		case EventIKERekey:
			if nm, ok := sm.Get("new").(*vici.Message); ok {
				e.SA = parseIKESA(k, nm)
			} else {
				e.SA = parseIKESA(k, sm)
			}
		case EventChildRekey:
			e.SA = parseIKESA(k, sm)
			e.SA.Children = nil
			if cs, ok := sm.Get("child-sas").(*vici.Message); ok {
				for _, ck := range cs.Keys() {
					cm, ok := cs.Get(ck).(*vici.Message)
					if !ok {
						continue
					}
					if nm, ok := cm.Get("new").(*vici.Message); ok {
						cm = nm
					}
					e.SA.Children = append(e.SA.Children, parseChildSA(ck, cm))
				}
			}
		default:
			return e, false
		}
		return e, true
	}
	return e, false
}
