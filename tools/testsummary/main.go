// Command testsummary runs `go test` commands and prints what plain
// `go test` prints, then every test that was skipped and why. Without it
// a skip is silent: `make test` on a machine without helm printed only
// "ok .../deploy/validate" for 13 skipped tests, though the README
// promises "skipped with a message saying so".
//
//	go run ./tools/testsummary -- go test -race ./... -- go -C deploy/validate test ./...
//
// Each command (separated by --) gets -json after its `test` word; they run
// one after the other until one fails. The exit code is that command's
// (0 when all pass), so that a caller sees go test's own.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

func main() {
	cmds := split(os.Args[1:])
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testsummary -- go test [flags] [packages] [-- go test ...]")
		os.Exit(2)
	}
	var s summary
	code := 0
	for _, args := range cmds {
		if code = run(args, &s); code != 0 {
			break
		}
	}
	s.report(os.Stdout)
	os.Exit(code)
}

// split cuts args at each "--" into commands, dropping empty ones.
func split(args []string) [][]string {
	var out [][]string
	for len(args) > 0 {
		i := slices.Index(args, "--")
		if i < 0 {
			i = len(args)
		}
		if i > 0 {
			out = append(out, args[:i])
		}
		args = args[min(i+1, len(args)):]
	}
	return out
}

// withJSON is args with -json after the first "test".
func withJSON(args []string) []string {
	i := slices.Index(args, "test")
	if i < 0 {
		return args
	}
	return slices.Concat(args[:i+1], []string{"-json"}, args[i+1:])
}

// run runs one go test command, its events summarised into s, and
// returns its exit code.
func run(args []string, s *summary) int {
	cmd := exec.Command(args[0], withJSON(args)[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	s.read(out, os.Stdout)
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// A skipped test and the lines it logged, its reason.
type skip struct {
	pkg, test string
	why       []string
}

type summary struct {
	skips []skip
}

// read copies the output plain `go test` would show to w: each package's
// own lines, build errors, and the lines of a test that failed; it keeps
// the skipped tests for report. A line that is not an event is copied.
func (s *summary) read(r io.Reader, w io.Writer) {
	logged := map[[2]string][]string{} // by package and test
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := [2]string{e.Package, e.Test}
		switch {
		case e.Action == "output" && e.Test != "":
			logged[key] = append(logged[key], e.Output)
		case e.Action == "output" || e.Action == "build-output":
			if e.Output != "PASS\n" && !strings.HasPrefix(e.Output, "=== ") {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "fail" && e.Test != "":
			for _, l := range logged[key] {
				if !strings.HasPrefix(l, "=== ") {
					fmt.Fprint(w, l)
				}
			}
		case e.Action == "skip" && e.Test != "":
			s.skips = append(s.skips, skip{e.Package, e.Test, reason(logged[key])})
		}
		if e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
			delete(logged, key)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testsummary: reading go test's output:", err)
	}
}

// reason is what a skipped test logged: its lines but the framework's.
func reason(lines []string) []string {
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		out = append(out, t)
	}
	return out
}

// report lists the skipped tests, each with why.
func (s *summary) report(w io.Writer) {
	if len(s.skips) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%d skipped:\n", len(s.skips))
	for _, k := range s.skips {
		why := strings.Join(k.why, " ")
		if why == "" {
			why = "(no reason given)"
		}
		fmt.Fprintf(w, "  SKIP %s %s: %s\n", k.pkg, k.test, why)
	}
}
