package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-jsonnet/formatter"
)

// TestJsonnetFormatted: mixin/ is as jsonnetfmt (go-jsonnet's formatter,
// default options) writes it, so that edits stay readable and diffs small.
func TestJsonnetFormatted(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../../mixin", func(path string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(path, ".libsonnet") || strings.HasSuffix(path, ".jsonnet")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d jsonnet files in mixin/: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := formatter.Format(f, string(b), formatter.DefaultOptions())
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if out != string(b) {
			t.Errorf("%s is not formatted: run jsonnetfmt -i on it (go run github.com/google/go-jsonnet/cmd/jsonnetfmt@v0.22.0 -i %s)", f, strings.TrimPrefix(f, "../../../"))
		}
	}
}

// TestRenderErrors: a config that is not a jsonnet object, or that breaks
// the mixin, is an error naming the cause, not a file.
func TestRenderErrors(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{alertFor+: {SunorAPIDown: 'ten minutes'}}`, "duration ten minutes"},
		{`{sunorSelector: `, "config"},
	} {
		files, err := Render("../../../mixin", c.config)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %s: files %d, error %v; want an error saying %q", c.config, len(files), err, c.want)
		}
	}
	if _, err := Render("no-such-dir", ""); err == nil {
		t.Error("a missing mixin directory rendered")
	}
}
