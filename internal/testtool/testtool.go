// Package testtool finds the external programs some tests need (promtool,
// amtool, prometheus, prometheus-alertmanager). A missing one fails the
// test in CI, where .ci/run installs it, and skips it with a message
// elsewhere: no test is skipped silently in CI.
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
