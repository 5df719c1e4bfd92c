package validate

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolPath returns the path of program name. A missing program fails the
// test in CI (CI set), where .ci/run installs it, and skips it with a
// message elsewhere. This is internal/testing/testtool's rule, copied: another
// module cannot import it.
func toolPath(t testing.TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	// `go install` puts it here, which is not always on PATH.
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must install it (%s)", name, install)
	}
	t.Skipf("%s is not installed (%s); skipping", name, install)
	return ""
}

// runTool runs name with args under a deadline and returns its stdout; it
// fails the test with stderr when the program fails.
func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, errOut, err := tryTool(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errOut)
	}
	return out
}

func tryTool(name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// version is the repository's VERSION file: the version every pin must name.
func version(t testing.TB) string {
	t.Helper()
	return strings.TrimSpace(string(mustRead(t, "../../VERSION")))
}
