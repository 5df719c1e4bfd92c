package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

// TestFlagsDocumented: docs/development.md's table of the fake's flags
// names every flag with its default, and no other; -h prints the flags and
// the control API.
func TestFlagsDocumented(t *testing.T) {
	fs := flag.NewFlagSet("fakesunor", flag.ContinueOnError)
	newFlags(fs)
	b, err := os.ReadFile("../../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(b), "\n## The fake API\n")
	doc, _, _ = strings.Cut(doc, "\n## ")
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `-([a-z-]+)` \\| `?([^|`]*)`? \\|").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = m[2]
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		def, ok := documented[f.Name]
		switch {
		case !ok:
			t.Errorf("docs/development.md lacks the flag -%s", f.Name)
		case f.Name == "key" && def == "demo-key", def == "off" && f.DefValue == "false":
		case def != f.DefValue:
			t.Errorf("docs/development.md gives -%s the default %q; it is %q", f.Name, def, f.DefValue)
		}
		delete(documented, f.Name)
	})
	for name := range documented {
		t.Errorf("docs/development.md documents -%s, which the fake does not have", name)
	}
	if n < 9 {
		t.Fatalf("%d flags", n)
	}

	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := fs.Parse([]string{"-h"}); err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-limit-headers", "-no-usage", fakesunor.ControlAPI} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not print %q:\n%s", want, out.String())
		}
	}
}
