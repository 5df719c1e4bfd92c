package testtool

import (
	"bytes"
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

// Lines is output taken line by line: a child process's (ReadLines) or a
// logger's (pass a *Lines to log.NewLogfmtLogger: it is an io.Writer that
// goroutines may write to while the test reads). Its zero value is ready
// to use. A test waits for a line with a deadline instead of blocking in
// bufio.Scanner.Scan, where a line that never comes would hang the suite
// until go test's own 10-minute timeout, with nothing said about why.
type Lines struct {
	mu      sync.Mutex
	lines   []string
	partial []byte // written after the last newline
	next    int    // the first line WaitFor has not looked at
	eof     bool
	changed chan struct{} // closed, and replaced, on every new line and at the end
}

// ReadLines reads r until it ends, closing it then if it is an io.Closer.
func ReadLines(r io.Reader) *Lines {
	l := &Lines{}
	go func() {
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		if _, err := io.Copy(l, r); err != nil {
			l.Write([]byte(fmt.Sprintf("\n[testtool: reading the output: %v]\n", err)))
		}
		l.Close()
	}()
	return l
}

// Write adds the lines in p; a line is complete at its newline.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	n := len(l.lines)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.lines) > n {
		l.signal()
	}
	return len(p), nil
}

// Close ends the output: WaitFor stops waiting for more. A last line
// without a newline counts as a line.
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.lines = append(l.lines, string(l.partial))
		l.partial = nil
	}
	l.eof = true
	l.signal()
	return nil
}

// signal wakes the waiters. l.mu is held.
func (l *Lines) signal() {
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
}

// wait returns the state a waiter looks at: whether the output ended, and
// a channel closed when anything changes. l.mu is held.
func (l *Lines) wait() (bool, <-chan struct{}) {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.eof, l.changed
}

// String is the output so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Count is how many times s occurs in the output so far.
func (l *Lines) Count(s string) int { return strings.Count(l.String(), s) }

// WaitFor waits up to d for a line matching re after the one the previous
// WaitFor returned, and returns it. It fails the test, saying what it
// waited for and showing the output, when d passes or the output ends
// first.
func (l *Lines) WaitFor(t testing.TB, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	line, err := l.Next(re, d)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return line
}

// Next is WaitFor for a program that is not a test: it returns an error
// where WaitFor fails the test.
func (l *Lines) Next(re *regexp.Regexp, d time.Duration) (string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for ; l.next < len(l.lines); l.next++ {
			if re.MatchString(l.lines[l.next]) {
				l.next++
				line := l.lines[l.next-1]
				l.mu.Unlock()
				return line, nil
			}
		}
		eof, changed := l.wait()
		l.mu.Unlock()
		if eof {
			return "", fmt.Errorf("the output ended without a line matching %s; got:\n%s", re, l)
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("waited %s for a line matching %s; got:\n%s", d, re, l)
		}
	}
}

// waitEnd waits up to d for the output to end.
func (l *Lines) waitEnd(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		eof, changed := l.wait()
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
	p, err := Launch(cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { p.exitWithin(0) })
	return p
}

// Launch is Start for a program that is not a test (tools/): it returns an
// error where Start fails the test, and stopping the process is the
// caller's (Stop, or cmd's context).
func Launch(cmd *exec.Cmd) (*Proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// One pipe for both, handed to the child as it is: its output ends,
	// and Out with it, when the child exits.
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %v", cmd, err)
	}
	p := &Proc{Out: ReadLines(r), cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	return p, nil
}

// LaunchServer launches cmd, a server that announces the address it
// listens on in a line of its output, and returns that address: the first
// submatch of announce. It waits up to d for the line; when the process exits
// first, or d passes, the error shows its output, and a process still
// running is killed.
func LaunchServer(cmd *exec.Cmd, announce *regexp.Regexp, d time.Duration) (*Proc, string, error) {
	p, err := Launch(cmd)
	if err != nil {
		return nil, "", err
	}
	line, err := p.Out.Next(announce, d)
	if err != nil {
		p.Stop(0)
		return nil, "", fmt.Errorf("%s: %v", p.name(), err)
	}
	return p, announce.FindStringSubmatch(line)[1], nil
}

// Stop stops the process, if it still runs: SIGTERM, then SIGKILL if it
// has not exited after d. It returns the exit status (-1 when a signal
// ended it).
func (p *Proc) Stop(d time.Duration) int {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.exitWithin(d)
	return p.code
}

// exitWithin waits up to d for the process to exit, and kills it when it
// has not: it returns whether it exited by itself.
func (p *Proc) exitWithin(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return false
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

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
	if !p.exitWithin(d) {
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
