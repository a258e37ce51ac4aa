package diag

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Receiver runs a capture command on the receiving host and collects the
// packets it prints as JSON lines (the `cgw capture --json` format), for
// example `ssh ec2-user@HOST sudo cgw capture --json` or, in the lab,
// `ip netns exec vpc cgw capture --json`. Its methods are safe for
// concurrent use.
type Receiver struct {
	cmd   *exec.Cmd
	ready chan struct{}
	done  chan struct{} // closed when the command has exited and output is read

	readyOnce sync.Once
	stopOnce  sync.Once
	mu        sync.Mutex
	packets   []Packet
	bad       int    // JSON lines that did not parse
	firstBad  string // the first of them, for the error
	stderr    tail
	stopped   bool
	waitErr   error
}

// StartReceiver starts argv (argv[0] is looked up in PATH) and reads its
// standard output. Lines that are not JSON objects are ignored. Ready is
// closed when the command prints its first packet or a line containing
// "listening on" on standard error (tcpdump's and cgw capture's sign that the
// socket is open), or when it exits. ctx ends the command.
func StartReceiver(ctx context.Context, argv []string) (*Receiver, error) {
	if len(argv) == 0 {
		return nil, errors.New("start receiver: empty command")
	}
	r := &Receiver{ready: make(chan struct{}), done: make(chan struct{}), stderr: tail{max: 4096}}
	r.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	r.cmd.WaitDelay = 2 * time.Second
	// The command writes into pipes of our own: Wait copies its output
	// and, thanks to WaitDelay, gives up on a child that keeps them open
	// after being killed.
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	r.cmd.Stdout, r.cmd.Stderr = outW, errW
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start receiver %q: %w", argv[0], err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.readStdout(outR) }()
	go func() { defer wg.Done(); r.readStderr(errR) }()
	go func() {
		err := r.cmd.Wait()
		outW.Close()
		errW.Close()
		wg.Wait()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(r.done)
		r.markReady()
	}()
	return r, nil
}

func (r *Receiver) markReady() { r.readyOnce.Do(func() { close(r.ready) }) }

func (r *Receiver) readStdout(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		p, err := ParsePacketJSON(line)
		r.mu.Lock()
		if err != nil {
			if r.bad == 0 {
				r.firstBad = err.Error()
			}
			r.bad++
		} else {
			p.Point = PointReceiver
			r.packets = append(r.packets, p)
		}
		r.mu.Unlock()
		if err == nil {
			r.markReady()
		}
	}
	io.Copy(io.Discard, rd)
}

func (r *Receiver) readStderr(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		r.mu.Lock()
		r.stderr.add(sc.Text())
		r.mu.Unlock()
		if strings.Contains(sc.Text(), "listening on") {
			r.markReady()
		}
	}
	io.Copy(io.Discard, rd)
}

// Ready is closed once the receiver's capture is running (see StartReceiver).
func (r *Receiver) Ready() <-chan struct{} { return r.ready }

// Packets returns a copy of the packets received so far, with Point
// "receiver".
func (r *Receiver) Packets() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Packet(nil), r.packets...)
}

// Stop interrupts the command (SIGINT, then a kill after two seconds),
// waits for it and returns every packet it printed. The error says why the
// command failed if it ended on its own with a non-zero status or printed
// JSON that did not parse; the end of its standard error is included. Stop
// is safe to call more than once.
func (r *Receiver) Stop() ([]Packet, error) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopped = true
		r.mu.Unlock()
		if r.cmd.Process != nil {
			if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
				r.cmd.Process.Kill()
			}
		}
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
			r.cmd.Process.Kill()
		}
	})
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	pkts := append([]Packet(nil), r.packets...)
	var errs []string
	if r.waitErr != nil && !(r.stopped && killedBySignal(r.waitErr)) {
		errs = append(errs, fmt.Sprintf("command %q: %v", r.cmd.Path, r.waitErr))
	}
	if r.bad > 0 {
		errs = append(errs, fmt.Sprintf("%d output lines did not parse, the first: %s", r.bad, r.firstBad))
	}
	if len(errs) == 0 {
		return pkts, nil
	}
	msg := "receiver: " + strings.Join(errs, "; ")
	if s := r.stderr.String(); s != "" {
		msg += "; stderr: " + s
	}
	return pkts, errors.New(msg)
}

// tail keeps the last max bytes of lines written to it.
type tail struct {
	max   int
	lines []string
	size  int
}

func (t *tail) add(line string) {
	t.lines = append(t.lines, line)
	t.size += len(line) + 1
	for t.size > t.max && len(t.lines) > 1 {
		t.size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string { return strings.TrimSpace(strings.Join(t.lines, "\n")) }

// killedBySignal reports whether the command died of a signal (ours) or
// exited with a shell's "interrupted" status 130.
func killedBySignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return errors.Is(err, exec.ErrWaitDelay)
	}
	return ee.ExitCode() == -1 || ee.ExitCode() == 130
}
