package testtool

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Lines is a child process's output, read line by line in a goroutine as
// it comes. A test waits for a line with a deadline instead of blocking in
// bufio.Scanner.Scan, where a line that never comes would hang the suite
// until go test's own 10-minute timeout, with nothing said about why.
type Lines struct {
	mu      sync.Mutex
	lines   []string
	next    int // the first line WaitFor has not looked at
	eof     bool
	changed chan struct{} // closed, and replaced, on every new line and at the end
}

// ReadLines reads r until it ends, closing it then if it is an io.Closer.
func ReadLines(r io.Reader) *Lines {
	l := &Lines{changed: make(chan struct{})}
	go func() {
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l.update(func() { l.lines = append(l.lines, sc.Text()) })
		}
		if err := sc.Err(); err != nil {
			l.update(func() { l.lines = append(l.lines, fmt.Sprintf("[testtool: reading the output: %v]", err)) })
			// Keep draining, so that the child never blocks on a full pipe.
			_, _ = io.Copy(io.Discard, r)
		}
		l.update(func() { l.eof = true })
	}()
	return l
}

func (l *Lines) update(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
	close(l.changed)
	l.changed = make(chan struct{})
}

// String is the output so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// WaitFor waits up to d for a line matching re after the one the previous
// WaitFor returned, and returns it. It fails the test, saying what it
// waited for and showing the output, when d passes or the output ends
// first.
func (l *Lines) WaitFor(t testing.TB, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for ; l.next < len(l.lines); l.next++ {
			if re.MatchString(l.lines[l.next]) {
				l.next++
				line := l.lines[l.next-1]
				l.mu.Unlock()
				return line
			}
		}
		eof, changed := l.eof, l.changed
		l.mu.Unlock()
		if eof {
			t.Fatalf("the output ended without a line matching %s; got:\n%s", re, l)
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("waited %s for a line matching %s; got:\n%s", d, re, l)
		}
	}
}

// waitEnd waits up to d for the output to end.
func (l *Lines) waitEnd(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		eof, changed := l.eof, l.changed
		l.mu.Unlock()
		if eof {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// Proc is a running child process whose standard output and standard error
// are read, interleaved as written, as Out.
type Proc struct {
	Out    *Lines
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait has returned
	code   int           // the exit status; -1 when a signal ended it
}

// Start starts cmd. If it still runs when the test ends, it is killed.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// One pipe for both, handed to the child as it is: its output ends,
	// and Out with it, when the child exits.
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start %s: %v", cmd, err)
	}
	p := &Proc{Out: ReadLines(r), cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// Run runs cmd to its end, within d, and returns its exit status and
// output.
func Run(t testing.TB, cmd *exec.Cmd, d time.Duration) (int, string) {
	t.Helper()
	p := Start(t, cmd)
	code := p.Wait(t, d)
	return code, p.Out.String()
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to %s: %v\n%s", sig, p.name(), err, p.Out)
	}
}

// Wait waits up to d for the process to exit and its output to end, and
// returns its exit status (-1 when a signal ended it). When d passes it
// kills the process and fails the test, saying what it waited for.
func (p *Proc) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	select {
	case <-p.exited:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("waited %s for %s to exit; its output:\n%s", d, p.name(), p.Out)
	}
	if !p.Out.waitEnd(max(time.Until(deadline), time.Second)) {
		t.Fatalf("%s exited but its output did not end (a child of its own still holds it); output:\n%s", p.name(), p.Out)
	}
	return p.code
}

// name is the program and its arguments, for messages.
func (p *Proc) name() string {
	return strings.Join(append([]string{filepath.Base(p.cmd.Path)}, p.cmd.Args[1:]...), " ")
}
