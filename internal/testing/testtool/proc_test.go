package testtool

import (
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// failTB records the first Fatalf and stops the goroutine there, as
// testing.T does.
type failTB struct {
	testing.TB
	msg string
}

func (f *failTB) Helper() {}

func (f *failTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn against a failTB and returns its failure message, "" if
// none.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &failTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the helper to return or fail: it hangs")
	}
	return f.msg
}

// TestWaitsEnd: a line that never comes, output that ends early and a
// process that does not exit each fail within the deadline, saying what
// was awaited and what came instead.
func TestWaitsEnd(t *testing.T) {
	for name, tc := range map[string]struct {
		script string
		wait   func(tb testing.TB, p *Proc)
		want   string
	}{
		"line never comes": {"echo one; exec sleep 30", func(tb testing.TB, p *Proc) {
			p.Out.WaitFor(tb, regexp.MustCompile(`two`), 200*time.Millisecond)
		}, "waited 200ms for a line matching two; got:\none"},
		"output ends first": {"echo one", func(tb testing.TB, p *Proc) {
			p.Out.WaitFor(tb, regexp.MustCompile(`two`), 10*time.Second)
		}, "the output ended without a line matching two; got:\none"},
		"no exit": {"echo started; exec sleep 30", func(tb testing.TB, p *Proc) { p.Wait(tb, 200*time.Millisecond) }, "waited 200ms for sh -c"},
	} {
		t.Run(name, func(t *testing.T) {
			p := Start(t, exec.Command("sh", "-c", tc.script))
			if msg := fails(t, func(tb testing.TB) { tc.wait(tb, p) }); !strings.Contains(msg, tc.want) {
				t.Errorf("failure %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}

func TestWaitForInOrder(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", "echo a1; echo b; echo a2; exit 3"))
	if got := p.Out.WaitFor(t, regexp.MustCompile(`^a`), 10*time.Second); got != "a1" {
		t.Errorf("first match %q, want a1", got)
	}
	if got := p.Out.WaitFor(t, regexp.MustCompile(`^a`), 10*time.Second); got != "a2" {
		t.Errorf("second match %q, want a2 (each wait starts after the previous match)", got)
	}
	if code := p.Wait(t, 10*time.Second); code != 3 {
		t.Errorf("exit status %d, want 3", code)
	}
	if code, out := Run(t, exec.Command("sh", "-c", "echo out; echo err >&2"), 10*time.Second); code != 0 || out != "out\nerr" {
		t.Errorf("Run: %d %q, want 0 and both streams", code, out)
	}
}

// TestLinesAsLogSink: what a logger writes, in pieces or several lines at
// once, is taken line by line; a line without its newline counts once the
// output is closed.
func TestLinesAsLogSink(t *testing.T) {
	var l Lines
	for _, p := range []string{"level=info msg=one\nlevel=in", "fo msg=two\n", "x\ny\nlast"} {
		if _, err := l.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.WaitFor(t, regexp.MustCompile(`msg=two`), 10*time.Second); got != "level=info msg=two" {
		t.Errorf("WaitFor: %q, want the line put together from two writes", got)
	}
	if n := l.Count("level=info"); n != 2 {
		t.Errorf("Count: %d, want 2", n)
	}
	if msg := fails(t, func(tb testing.TB) { l.WaitFor(tb, regexp.MustCompile(`last`), 100*time.Millisecond) }); !strings.Contains(msg, "waited 100ms") {
		t.Errorf("a line without its newline was taken before Close: %q", msg)
	}
	l.Close()
	if got := l.WaitFor(t, regexp.MustCompile(`last`), 10*time.Second); got != "last" {
		t.Errorf("after Close: %q, want last", got)
	}
}

// TestLaunchServer: the address is the first submatch of the announcing
// line; a server that exits or stays silent is an error showing its
// output, and the silent one is killed.
func TestLaunchServer(t *testing.T) {
	announce := regexp.MustCompile(`listening on (\S+)`)
	p, addr, err := LaunchServer(exec.Command("sh", "-c", "echo starting; echo listening on 127.0.0.1:9; exec sleep 30"), announce, 10*time.Second)
	if err != nil || addr != "127.0.0.1:9" {
		t.Fatalf("LaunchServer: %q, %v; want 127.0.0.1:9", addr, err)
	}
	if code := p.Stop(10 * time.Second); code != -1 {
		t.Errorf("Stop: exit status %d, want -1 (ended by SIGTERM)", code)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited is open after Stop")
	}

	_, _, err = LaunchServer(exec.Command("sh", "-c", "echo no port; exit 2"), announce, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "the output ended without a line matching") || !strings.Contains(err.Error(), "no port") {
		t.Errorf("a server that exits first: err = %v", err)
	}
	start := time.Now()
	_, _, err = LaunchServer(exec.Command("sh", "-c", "echo silent; exec sleep 30"), announce, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "waited 200ms") || !strings.Contains(err.Error(), "silent") {
		t.Errorf("a silent server: err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("LaunchServer returned after %s: it waited for the silent server to exit instead of killing it", d)
	}
}
