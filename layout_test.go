package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExporterImportsNoTestSupport: the fakes and test tools live under
// internal/testing/ so that a reader can tell them from the exporter; the
// exporter's binary must never link them (nor the mixin's renderer), and
// the configuration layer must not import the API client.
func TestExporterImportsNoTestSupport(t *testing.T) {
	deps := func(pkg string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	const mod = "github.com/sunor-community/sunor_exporter/"
	for _, d := range deps(".") {
		if strings.HasPrefix(d, mod+"internal/testing/") || strings.HasPrefix(d, mod+"tools/") || strings.HasPrefix(d, "github.com/google/go-jsonnet") {
			t.Errorf("the exporter's binary links %s", d)
		}
	}
	for _, d := range deps("./internal/config") {
		if d == mod+"internal/sunor" || d == mod+"internal/accounts" || d == mod+"collector" {
			t.Errorf("internal/config imports %s: the layer that reads a file must not depend on the one that talks to the API", d)
		}
	}
}

// TestLayoutListsEveryPackage: docs/development.md's layout tables, which
// a newcomer reads first, name every package of the tree (a package is
// covered by its own row or a row of a folder above it) and nothing that
// is not there.
func TestLayoutListsEveryPackage(t *testing.T) {
	layout, _, _ := strings.Cut(section(t, "docs/development.md", "Layout"), "\n### ") // not the collector's files
	var listed []string
	for _, row := range regexp.MustCompile("(?m)^\\| (`.*?`(?:, `.*?`)*) \\|").FindAllStringSubmatch(layout, -1) {
		for _, p := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(row[1], -1) {
			listed = append(listed, strings.TrimSuffix(p[1], "/"))
		}
	}
	if len(listed) < 10 {
		t.Fatalf("found only %v in docs/development.md's layout tables", listed)
	}
	for _, p := range listed {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("docs/development.md's layout lists %s, which is not in the tree", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	wd, _ := os.Getwd()
	for _, dir := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(wd, dir)
		covered := rel == "." && slices.Contains(listed, "main.go")
		for _, p := range listed {
			covered = covered || rel == p || strings.HasPrefix(rel, p+"/")
		}
		if !covered {
			t.Errorf("package %s is not in docs/development.md's layout tables", rel)
		}
	}
}
