package testtool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The version stamps ExporterBinary passes to the Dockerfile's build
// command, for tests that check the binary reports them.
const (
	StampVersion  = "1.2.3-test"
	StampRevision = "abc123"
	StampBranch   = "main"
)

// buildTimeout bounds the build: a cold build of every dependency on the
// 2-core CI machine takes about a minute.
const buildTimeout = 5 * time.Minute

var build struct {
	once sync.Once
	dir  string // removed by Main
	bin  string
	err  error
}

// dockerfileBuild is the Dockerfile's build command: the RUN instruction
// that starts with `CGO_ENABLED=0 go build`, up to the blank line after it.
var dockerfileBuild = regexp.MustCompile(`(?s)RUN (CGO_ENABLED=0 go build .*?)\n\n`)

// ExporterBinary returns the exporter as a program, built once per test
// binary by the Dockerfile's own build command (flags, version stamps and
// the image's --version self-check included), so that the tests run what
// the image ships. Every package that runs the program builds it with the
// same command and environment, so the Go build cache serves all but the
// first package's compile. The program lives in a temporary directory that
// Main removes.
func ExporterBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.bin, build.err = buildExporter() })
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func buildExporter() (string, error) {
	dir, err := os.MkdirTemp("", "sunor-exporter-test-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	return BuildExporter(dir)
}

// BuildExporter is ExporterBinary for a program that is not a test
// (tools/): it builds the exporter into dir, by the same command, and
// returns its path.
func BuildExporter(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return "", err
	}
	m := dockerfileBuild.FindSubmatch(df)
	if m == nil {
		return "", fmt.Errorf("no RUN instruction starting with `CGO_ENABLED=0 go build` in %s/Dockerfile", root)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(string(m[1]), "/out/", dir+"/"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "VERSION="+StampVersion, "REVISION="+StampRevision, "BRANCH="+StampBranch, "BUILD_DATE=20261124")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return "", fmt.Errorf("waited %s for the Dockerfile's go build; it printed:\n%s", buildTimeout, out)
	}
	if err != nil {
		return "", fmt.Errorf("the Dockerfile's go build failed: %v\n%s", err, out)
	}
	return filepath.Join(dir, "sunor_exporter"), nil
}

// BuildProgram builds another command of this module, pkg (such as
// ./cmd/fakesunor), into dir as the exporter is built (static, stripped),
// and returns its path.
func BuildProgram(dir, pkg string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (within %s): %v\n%s", pkg, buildTimeout, err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the main module's go.mod: tests run in
// their package's directory, which is not the root for deploy/.
func moduleRoot() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD (within a minute): %v", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// Main runs the tests, then removes what ExporterBinary built. Call it from
// TestMain: os.Exit(testtool.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}
