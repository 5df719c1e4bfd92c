package fakesunor

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// accountFields are the JSON names of Account's fields: what PUT
// /fake/accounts/{key} takes.
func accountFields() []string {
	var out []string
	for f := range reflect.TypeFor[Account]().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.IsExported() && name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// failureModes are every value of fail and fail_usage.
func failureModes() []string {
	return append(slices.Clone(FailModes), FailNotFound, FailMethodNotAllowed, FailNotImplemented)
}

// block is the lines of text after the line title up to the next line
// that starts without a space (a blank line aside).
func block(t *testing.T, text, title string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "\n"+title+"\n")
	if !ok {
		t.Fatalf("no %q in:\n%s", title, text)
	}
	var out []string
	for _, l := range strings.Split(rest, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			break
		}
		out = append(out, l)
	}
	return out
}

// firstWords are the first words of the indented lines.
func firstWords(lines []string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
			out = append(out, f[0])
		}
	}
	return out
}

func sameSet(t *testing.T, where string, got, want []string) {
	t.Helper()
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	for s := range w {
		if !g[s] {
			t.Errorf("%s lacks %q", where, s)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(g)) {
		if !w[s] {
			t.Errorf("%s documents %q, which the fake does not have", where, s)
		}
	}
}

// TestControlAPIDocumented: `fakesunor -h` (ControlAPI) and
// docs/development.md name every field PUT /fake/accounts/{key} takes and
// every failure mode, and nothing else.
func TestControlAPIDocumented(t *testing.T) {
	fields, modes := accountFields(), failureModes()
	if len(fields) < 10 {
		t.Fatalf("Account's JSON fields: %v; the reflection no longer fits", fields)
	}
	sameSet(t, "ControlAPI's fields", firstWords(block(t, ControlAPI, "Fields of an account:")), fields)
	sameSet(t, "ControlAPI's failure modes", firstWords(block(t, ControlAPI, "Failure modes (fail, fail_usage):")), modes)

	b, err := os.ReadFile("../../../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(b), "\n## The fake API\n")
	doc, _, _ = strings.Cut(doc, "\n## ")
	fieldsTable, _, _ := strings.Cut(strings.SplitN(doc, "The fields of an account:", 2)[1], "\n\n\n")
	fieldsTable, modesText, _ := strings.Cut(fieldsTable, "The failure modes:")
	firstCell := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")
	var docFields []string
	for _, m := range firstCell.FindAllStringSubmatch(fieldsTable, -1) {
		docFields = append(docFields, m[1])
	}
	sameSet(t, "docs/development.md's table of fields", docFields, fields)
	modesText, _, _ = strings.Cut(modesText, "A test keeps")
	var docModes []string
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(modesText, -1) {
		if m[1] != "fail" && m[1] != "fail_usage" {
			docModes = append(docModes, m[1])
		}
	}
	sameSet(t, "docs/development.md's failure modes", docModes, modes)
	for _, path := range []string{"PUT /fake/accounts/{key}", "GET /fake/accounts/{key}", "GET /fake/requests"} {
		if !strings.Contains(doc, path) || !strings.Contains(ControlAPI, strings.Replace(path, " ", "  ", 1)) {
			t.Errorf("%s is not documented in both", path)
		}
	}
}
