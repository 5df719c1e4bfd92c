package main

import (
	"context"
	"os/exec"
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
