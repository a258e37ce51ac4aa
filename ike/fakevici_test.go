package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
)

// This file is a message-level fake of charon's VICI socket over
// net.Pipe, for Client tests that need no root: it speaks the wire format
// (packet types, sections, lists) and answers commands from a handler.

// A kv is one element of a fake message: v is a string, a []string or a
// []kv (a section).
type kv struct {
	k string
	v any
}

// VICI packet and element types (strongSwan's vici protocol).
const (
	vpCmdRequest   = 0
	vpCmdResponse  = 1
	vpCmdUnknown   = 2
	vpEventReg     = 3
	vpEventUnreg   = 4
	vpEventConfirm = 5
	vpEvent        = 7

	veSectionStart = 1
	veSectionEnd   = 2
	veKeyValue     = 3
	veListStart    = 4
	veListItem     = 5
	veListEnd      = 6
)

// A fakeEvent is an event the handler sends before its response.
type fakeEvent struct {
	name string
	body []kv
}

// fakeHandler answers one command; a nil response means "unknown command".
type fakeHandler func(cmd string, req []kv) (events []fakeEvent, resp []kv)

// fakeCharon serves any number of connections (the command session and
// each Events session) with one handler.
type fakeCharon struct {
	handle fakeHandler

	mu    sync.Mutex
	conns map[*fakeConn]struct{}
}

type fakeConn struct {
	net.Conn
	wmu        sync.Mutex
	registered map[string]bool // guarded by wmu
}

func newFakeCharon(h fakeHandler) *fakeCharon {
	return &fakeCharon{handle: h, conns: map[*fakeConn]struct{}{}}
}

// dial is a Client's dialConn: one net.Pipe per session.
func (f *fakeCharon) dial(context.Context) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return nil, &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connection refused")}
	}
	client, server := net.Pipe()
	fc := &fakeConn{Conn: server, registered: map[string]bool{}}
	f.conns[fc] = struct{}{}
	go f.serve(fc)
	return client, nil
}

// kill closes every connection, like charon dying; later dials fail.
func (f *fakeCharon) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// push sends an event to every session registered for it.
func (f *fakeCharon) push(ev fakeEvent) {
	f.mu.Lock()
	conns := make([]*fakeConn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		if c.registered[ev.name] {
			_ = writePacket(c, vpEvent, ev.name, ev.body)
		}
		c.wmu.Unlock()
	}
}

func (f *fakeCharon) serve(c *fakeConn) {
	defer c.Close()
	for {
		ptype, name, body, err := readPacket(c)
		if err != nil {
			return
		}
		c.wmu.Lock()
		switch ptype {
		case vpEventReg:
			c.registered[name] = true
			err = writePacket(c, vpEventConfirm, "", nil)
		case vpEventUnreg:
			delete(c.registered, name)
			err = writePacket(c, vpEventConfirm, "", nil)
		case vpCmdRequest:
			events, resp := f.handle(name, body)
			for _, ev := range events {
				if c.registered[ev.name] && err == nil {
					err = writePacket(c, vpEvent, ev.name, ev.body)
				}
			}
			if err == nil {
				if resp == nil {
					err = writePacket(c, vpCmdUnknown, "", nil)
				} else {
					err = writePacket(c, vpCmdResponse, "", resp)
				}
			}
		}
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

func writePacket(w io.Writer, ptype byte, name string, body []kv) error {
	var b bytes.Buffer
	b.WriteByte(ptype)
	if ptype == vpCmdRequest || ptype == vpEventReg || ptype == vpEventUnreg || ptype == vpEvent {
		b.WriteByte(byte(len(name)))
		b.WriteString(name)
	}
	encodeBody(&b, body)
	out := binary.BigEndian.AppendUint32(nil, uint32(b.Len()))
	_, err := w.Write(append(out, b.Bytes()...))
	return err
}

func encodeBody(b *bytes.Buffer, items []kv) {
	for _, it := range items {
		switch v := it.v.(type) {
		case string:
			b.WriteByte(veKeyValue)
			b.WriteByte(byte(len(it.k)))
			b.WriteString(it.k)
			_ = binary.Write(b, binary.BigEndian, uint16(len(v)))
			b.WriteString(v)
		case []string:
			b.WriteByte(veListStart)
			b.WriteByte(byte(len(it.k)))
			b.WriteString(it.k)
			for _, s := range v {
				b.WriteByte(veListItem)
				_ = binary.Write(b, binary.BigEndian, uint16(len(s)))
				b.WriteString(s)
			}
			b.WriteByte(veListEnd)
		case []kv:
			b.WriteByte(veSectionStart)
			b.WriteByte(byte(len(it.k)))
			b.WriteString(it.k)
			encodeBody(b, v)
			b.WriteByte(veSectionEnd)
		}
	}
}

func readPacket(r io.Reader) (ptype byte, name string, body []kv, err error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return 0, "", nil, err
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, "", nil, err
	}
	if len(data) == 0 {
		return 0, "", nil, errors.New("empty packet")
	}
	ptype, data = data[0], data[1:]
	if ptype == vpCmdRequest || ptype == vpEventReg || ptype == vpEventUnreg || ptype == vpEvent {
		if len(data) < 1 || len(data) < 1+int(data[0]) {
			return 0, "", nil, errors.New("short name")
		}
		name, data = string(data[1:1+int(data[0])]), data[1+int(data[0]):]
	}
	body, _, err = decodeBody(data)
	return ptype, name, body, err
}

// decodeBody reads elements until the data or the enclosing section ends;
// it returns the bytes it consumed.
func decodeBody(data []byte) ([]kv, int, error) {
	var out []kv
	i := 0
	short := errors.New("short element")
	readName := func() (string, error) {
		if i >= len(data) || i+1+int(data[i]) > len(data) {
			return "", short
		}
		s := string(data[i+1 : i+1+int(data[i])])
		i += 1 + int(data[i])
		return s, nil
	}
	readValue := func() (string, error) {
		if i+2 > len(data) {
			return "", short
		}
		l := int(binary.BigEndian.Uint16(data[i:]))
		if i+2+l > len(data) {
			return "", short
		}
		s := string(data[i+2 : i+2+l])
		i += 2 + l
		return s, nil
	}
	for i < len(data) {
		t := data[i]
		i++
		switch t {
		case veSectionEnd:
			return out, i, nil
		case veKeyValue:
			k, err := readName()
			if err != nil {
				return nil, i, err
			}
			v, err := readValue()
			if err != nil {
				return nil, i, err
			}
			out = append(out, kv{k, v})
		case veListStart:
			k, err := readName()
			if err != nil {
				return nil, i, err
			}
			var list []string
			for i < len(data) && data[i] == veListItem {
				i++
				v, err := readValue()
				if err != nil {
					return nil, i, err
				}
				list = append(list, v)
			}
			if i >= len(data) || data[i] != veListEnd {
				return nil, i, short
			}
			i++
			out = append(out, kv{k, list})
		case veSectionStart:
			k, err := readName()
			if err != nil {
				return nil, i, err
			}
			sub, n, err := decodeBody(data[i:])
			if err != nil {
				return nil, i, err
			}
			i += n
			out = append(out, kv{k, sub})
		default:
			return nil, i, errors.New("unknown element")
		}
	}
	return out, i, nil
}

// get returns the string value of key k in items.
func get(items []kv, k string) string {
	for _, it := range items {
		if it.k == k {
			s, _ := it.v.(string)
			return s
		}
	}
	return ""
}
