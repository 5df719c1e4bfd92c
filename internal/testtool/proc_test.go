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
