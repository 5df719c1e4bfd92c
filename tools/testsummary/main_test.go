package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRealGoTest: a package with a skipped, a passing and a failing test:
// the output is plain go test's (the failure's lines, not the passing
// test's), then each skipped test with its reason; the exit code is go
// test's.
func TestRealGoTest(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.22\n",
		"m_test.go": `package m

import "testing"

func TestNeedsHelm(t *testing.T) { t.Skip("helm not installed (go install helm.sh/helm/v3/cmd/helm@v3.22.0)") }
func TestFine(t *testing.T)      { t.Log("quiet when it passes") }
func TestBroken(t *testing.T)    { t.Error("wanted 1, got 2") }
func TestParent(t *testing.T) {
	t.Run("child", func(t *testing.T) { t.Skip("no kustomize") })
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	var out bytes.Buffer
	r, w, _ := os.Pipe()
	// A deadline on the child: a hung go test fails this test, not the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "-C", dir, "test", "-json", "-count=1", "./...")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var s summary
	s.read(r, &out)
	err := cmd.Wait()
	if err == nil {
		t.Fatal("go test passed with a failing test")
	}
	s.report(&out)
	got := out.String()
	for _, want := range []string{
		"--- FAIL: TestBroken", "wanted 1, got 2", "FAIL\texample.com/m",
		"2 skipped:",
		"SKIP example.com/m TestNeedsHelm: m_test.go:5: helm not installed (go install helm.sh/helm/v3/cmd/helm@v3.22.0)",
		"SKIP example.com/m TestParent/child: m_test.go:9: no kustomize",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"quiet when it passes", "=== RUN", "--- PASS"} {
		if strings.Contains(got, not) {
			t.Errorf("output has %q, which plain go test does not print:\n%s", not, got)
		}
	}
}

// TestExitCodeIsTheCommands: the commands run in turn until one fails,
// whose exit code is returned.
func TestExitCodeIsTheCommands(t *testing.T) {
	var s summary
	if code := run([]string{"sh", "-c", "exit 0"}, &s); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if code := run([]string{"sh", "-c", "exit 3"}, &s); code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	got := split([]string{"--", "go", "test", "./...", "--", "go", "-C", "d", "test", "-count=1", "./..."})
	want := [][]string{{"go", "test", "./..."}, {"go", "-C", "d", "test", "-count=1", "./..."}}
	if len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Errorf("split: %q", got)
	}
	if j := withJSON(want[1]); !slices.Equal(j, []string{"go", "-C", "d", "test", "-json", "-count=1", "./..."}) {
		t.Errorf("withJSON: %q", j)
	}
}
