// Package testtool is the one copy of what the tests of several packages,
// and the load tools in tools/, need: external programs (promtool, amtool,
// prometheus, prometheus-alertmanager), the exporter built as a program,
// child processes and logs read line by line with deadlines (Lines), the
// fake Sunor API served on loopback, and HTTP requests with a deadline.
// What takes a testing.TB fails the test; tools/ use the variants that
// return an error (Launch, LaunchServer, Request, BuildExporter).
//
// A missing external program fails the test in CI, where .ci/run installs
// it, and skips it with a message elsewhere: no test is skipped silently in
// CI.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Path returns the path of program name, from Debian package pkg.
func Path(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI must install Debian's %s package", name, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s); skipping", name, pkg)
	}
	return p
}
