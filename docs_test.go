package main

// Tests that keep the documentation true to the program: the flags table
// against --help, the metrics table against a scrape, every relative link
// and anchor, the runbook against the alerting rules, and one version
// everywhere a release is named.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// section returns the text of a markdown file from the heading line
// "## title" to the next heading of level 2 or higher (code blocks are not
// headings).
func section(t *testing.T, file, title string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", file, "## "+title)
	}
	var out []string
	inCode := false
	for _, line := range strings.Split(rest, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && (strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ")) {
			break
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// tableRows returns the cells of each row of the markdown tables in text,
// header and separator rows left out.
func tableRows(text string) [][]string {
	var rows [][]string
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---") {
			continue // the header
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	return rows
}

var codeSpanRE = regexp.MustCompile("`([^`]+)`")

// TestDocsListEveryFlag: docs/configuration.md's flags table names every
// flag that --help shows, and no flag that --help does not show, so that
// the reference cannot fall behind the program nor run ahead of it.
func TestDocsListEveryFlag(t *testing.T) {
	var help bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &help, io.Discard); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	// A flag starts its line after a few spaces; wrapped help text, after many.
	flagRE := regexp.MustCompile(`(?m)^ {1,8}(?:-\w, )?--(?:\[no-\])?([a-z][\w.-]*)`)
	inHelp := map[string]bool{}
	for _, m := range flagRE.FindAllStringSubmatch(help.String(), -1) {
		inHelp[m[1]] = true
	}
	if len(inHelp) < 20 {
		t.Fatalf("found %d flags in --help; the pattern no longer fits its layout:\n%s", len(inHelp), help.String())
	}
	inDocs := map[string]bool{}
	docFlagRE := regexp.MustCompile("^`--(?:\\[no-\\])?([a-z][\\w.-]*)`$")
	for _, row := range tableRows(section(t, "docs/configuration.md", "Flags")) {
		for _, part := range strings.Split(row[0], ", ") {
			if m := docFlagRE.FindStringSubmatch(part); m != nil {
				inDocs[m[1]] = true
			}
		}
	}
	for f := range inHelp {
		if !inDocs[f] {
			t.Errorf("docs/configuration.md's flags table lacks --%s, which --help shows", f)
		}
	}
	for f := range inDocs {
		if !inHelp[f] {
			t.Errorf("docs/configuration.md's flags table has --%s, which --help does not show", f)
		}
	}
}

// TestDocsListEveryMetric: docs/metrics.md's table names every metric family
// a scrape shows, with its type and labels, and every sunor_* metric it
// names shows in a scrape of two healthy accounts from an accounts file.
func TestDocsListEveryMetric(t *testing.T) {
	fake, cfg, _ := twoAccounts(t)
	// X-RateLimit-Limit and -Reset, which the docs list, come only from
	// API versions that send them.
	fake.LimitHeaders = true
	e := start(t, "--config.file="+cfg)
	code, body := e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}

	type doc struct{ typ, labels string }
	documented := map[string]doc{} // name -> type and the labels in braces
	var prefixes []string          // rows such as `go_*`
	nameRE := regexp.MustCompile(`^([a-z_]+)(?:\{([a-z_,]+)\})?$`)
	for _, row := range tableRows(section(t, "docs/metrics.md", "Series")) {
		for _, m := range codeSpanRE.FindAllStringSubmatch(row[0], -1) {
			if p, ok := strings.CutSuffix(m[1], "*"); ok {
				prefixes = append(prefixes, p)
				continue
			}
			n := nameRE.FindStringSubmatch(m[1])
			if n == nil {
				t.Errorf("docs/metrics.md: %q is not a metric name", m[1])
				continue
			}
			documented[n[1]] = doc{typ: row[1], labels: n[2]}
		}
	}
	if len(documented) < 15 {
		t.Fatalf("found %d metrics in docs/metrics.md's table; the pattern no longer fits it", len(documented))
	}

	for name, mf := range families {
		d, ok := documented[name]
		if !ok {
			if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
				t.Errorf("docs/metrics.md lacks %s, which a scrape shows", name)
			}
			continue
		}
		if got := strings.ToLower(mf.GetType().String()); got != d.typ {
			t.Errorf("docs/metrics.md says %s is a %s; the scrape says %s", name, d.typ, got)
		}
		for _, l := range strings.Split(d.labels, ",") {
			if l == "" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if !slices.ContainsFunc(m.GetLabel(), func(p *dto.LabelPair) bool { return p.GetName() == l }) {
					t.Errorf("docs/metrics.md gives %s the label %s; a series of the scrape has none: %v", name, l, m.GetLabel())
					break
				}
			}
		}
	}
	for name := range documented {
		if _, ok := families[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which a scrape of two healthy accounts does not show", name)
		}
	}
}

// TestDocsExampleHelpIsTheScrapes: every HELP line of docs/metrics.md's
// example scrape is the HELP a scrape shows for that metric.
func TestDocsExampleHelpIsTheScrapes(t *testing.T) {
	fake, cfg, _ := twoAccounts(t)
	// X-RateLimit-Limit and -Reset, which the docs list, come only from
	// API versions that send them.
	fake.LimitHeaders = true
	e := start(t, "--config.file="+cfg)
	code, body := e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	help := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, _ := strings.Cut(rest, " ")
			help[name] = text
		}
	}
	n := 0
	for _, line := range strings.Split(section(t, "docs/metrics.md", "An example scrape"), "\n") {
		rest, ok := strings.CutPrefix(line, "# HELP ")
		if !ok {
			continue
		}
		n++
		name, text, _ := strings.Cut(rest, " ")
		if got, ok := help[name]; !ok {
			t.Errorf("docs/metrics.md's example has %s, which a scrape does not show", name)
		} else if got != text {
			t.Errorf("docs/metrics.md's example HELP of %s:\n  %s\na scrape says:\n  %s", name, text, got)
		}
	}
	if n < 15 {
		t.Fatalf("found %d HELP lines in docs/metrics.md's example; the pattern no longer fits it", n)
	}
}

// headingRE finds markdown headings; slugs are GitHub's anchors for them.
var headingRE = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)

// anchors returns the anchors GitHub makes for a markdown file's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRE.FindAllStringSubmatch(stripCode(text), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// stripCode blanks fenced code blocks and code spans: neither holds links
// or headings.
func stripCode(text string) string {
	var out []string
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			out = append(out, "")
			continue
		}
		if inCode {
			out = append(out, "")
			continue
		}
		out = append(out, codeSpanRE.ReplaceAllString(line, "code"))
	}
	return strings.Join(out, "\n")
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// brokenLinks returns the relative links of the markdown file at path (and
// their #anchors) that do not resolve.
func brokenLinks(path string, text string) []string {
	var broken []string
	for _, m := range linkRE.FindAllStringSubmatch(stripCode(text), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		if file == "" { // an anchor on this page
			if !anchors(text)[anchor] {
				broken = append(broken, fmt.Sprintf("%s: %s: no heading on this page has the anchor", path, target))
			}
			continue
		}
		dest := filepath.Join(filepath.Dir(path), file)
		st, err := os.Stat(dest)
		if err != nil {
			broken = append(broken, fmt.Sprintf("%s: %s: no such file or directory", path, target))
			continue
		}
		if anchor == "" {
			continue
		}
		if st.IsDir() || !strings.HasSuffix(dest, ".md") {
			broken = append(broken, fmt.Sprintf("%s: %s: an anchor into a file that is not markdown", path, target))
			continue
		}
		b, err := os.ReadFile(dest)
		if err != nil || !anchors(string(b))[anchor] {
			broken = append(broken, fmt.Sprintf("%s: %s: %s has no heading with the anchor #%s", path, target, dest, anchor))
		}
	}
	return broken
}

// TestDocsLinksResolve: every relative link in README.md, docs/*.md,
// CHANGELOG.md and SECURITY.md names a file or directory of the repository,
// and every #anchor a heading of its page.
func TestDocsLinksResolve(t *testing.T) {
	pages, _ := filepath.Glob("docs/*.md")
	pages = append(pages, "README.md", "CHANGELOG.md", "SECURITY.md")
	if len(pages) < 10 {
		t.Fatalf("found %d pages: %v", len(pages), pages)
	}
	links := 0
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		links += len(linkRE.FindAllString(stripCode(string(b)), -1))
		for _, msg := range brokenLinks(p, string(b)) {
			t.Error(msg)
		}
	}
	if links < 50 {
		t.Errorf("found %d links in %d pages; the pattern no longer fits", links, len(pages))
	}
}

// TestDocsLinkCheckerFindsBrokenLinks: the checker above fails on a missing
// file, a missing anchor and an anchor into a directory, and passes what
// resolves, code blocks and web addresses.
func TestDocsLinkCheckerFindsBrokenLinks(t *testing.T) {
	page := "docs/test-page.md"
	text := "# Page\n\n## A heading, with `code`\n\n## A heading, with `code`\n\n" +
		"[ok](../README.md) [ok](#a-heading-with-code-1) [ok](configuration.md#flags) [ok](../deploy/) [web](https://example.com/x#y)\n" +
		"```\n[in code](nowhere.md)\n```\n" +
		"[bad](nowhere.md) [bad](#no-such-heading) [bad](configuration.md#no-such-heading) [bad](../deploy/#x)\n"
	got := brokenLinks(page, text)
	for _, want := range []string{"nowhere.md:", "#no-such-heading:", "configuration.md#no-such-heading:", "../deploy/#x:"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, " "+want) }) {
			t.Errorf("the checker missed %q; it reported:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 4 {
		t.Errorf("want 4 broken links, got %d:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// TestDocsRunbookHasEveryAlert: every alert of the rules has its section in
// docs/runbook.md, and a brief in the README where its runbook_url points.
func TestDocsRunbookHasEveryAlert(t *testing.T) {
	b, err := os.ReadFile("deploy/prometheus/rules/sunor.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(string(b), -1)
	if len(alerts) < 5 {
		t.Fatalf("found %d alerts in the rules", len(alerts))
	}
	runbook, _ := os.ReadFile("docs/runbook.md")
	readme, _ := os.ReadFile("README.md")
	for _, a := range alerts {
		if !strings.Contains(string(runbook), "\n### "+a[1]+"\n") {
			t.Errorf("docs/runbook.md has no section \"### %s\"", a[1])
		}
		if !strings.Contains(string(readme), "\n### "+a[1]+"\n") || !strings.Contains(string(readme), "](docs/runbook.md#"+strings.ToLower(a[1])+")") {
			t.Errorf("README.md has no \"### %s\" with a link to docs/runbook.md#%s", a[1], strings.ToLower(a[1]))
		}
	}
}

// imagePinRE finds the exporter's image with a tag.
var imagePinRE = regexp.MustCompile(`ghcr\.io/sunor-community/sunor_exporter:([\w.-]+)`)

// TestVersionIsTheSameEverywhere: VERSION, the latest CHANGELOG section,
// the image pins in deploy/ and the docs, the chart's version and
// appVersion and its image tag default all name one release.
func TestVersionIsTheSameEverywhere(t *testing.T) {
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v := strings.TrimSpace(read("VERSION"))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("VERSION %q is not MAJOR.MINOR.PATCH", v)
	}
	check := func(where, got string) {
		t.Helper()
		if got != v {
			t.Errorf("%s says %q; VERSION says %s", where, got, v)
		}
	}

	// The first release section of the changelog, after Unreleased if any.
	rel := regexp.MustCompile(`(?m)^## \[(\d[^\]]*)\] - (\d{4}-\d{2}-\d{2})$`).FindStringSubmatch(read("CHANGELOG.md"))
	if rel == nil {
		t.Error(`CHANGELOG.md has no section "## [VERSION] - YYYY-MM-DD"`)
	} else {
		check("CHANGELOG.md's latest section", rel[1])
	}

	var k struct {
		Images []struct {
			NewTag string `yaml:"newTag"`
		} `yaml:"images"`
	}
	if err := yaml.Unmarshal([]byte(read("deploy/kubernetes/kustomization.yaml")), &k); err != nil || len(k.Images) != 1 {
		t.Fatalf("kustomization.yaml: %v, images %+v", err, k.Images)
	}
	check("deploy/kubernetes/kustomization.yaml newTag", k.Images[0].NewTag)

	var compose struct {
		Services map[string]struct {
			Image string
			Build struct{ Args map[string]string }
		}
	}
	if err := yaml.Unmarshal([]byte(read("deploy/docker-compose.yml")), &compose); err != nil {
		t.Fatal(err)
	}
	ex := compose.Services["sunor-exporter"]
	check("deploy/docker-compose.yml's build arg VERSION", ex.Build.Args["VERSION"])

	var chart struct {
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	if err := yaml.Unmarshal([]byte(read("deploy/helm/sunor-exporter/Chart.yaml")), &chart); err != nil {
		t.Fatal(err)
	}
	check("Chart.yaml appVersion", chart.AppVersion)
	check("Chart.yaml version", chart.Version)
	var values struct {
		Image struct{ Tag string } `yaml:"image"`
	}
	if err := yaml.Unmarshal([]byte(read("deploy/helm/sunor-exporter/values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Tag != "" {
		check("the chart's values.yaml image.tag", values.Image.Tag)
	}

	// Every pinned image in deploy/ and in the docs.
	var files []string
	for _, glob := range []string{"README.md", "docs/*.md", "deploy/*.yml", "deploy/kubernetes*/*.yaml", "deploy/helm/sunor-exporter/*.yaml", "deploy/systemd/*"} {
		m, _ := filepath.Glob(glob)
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	pins := 0
	for _, f := range files {
		for _, m := range imagePinRE.FindAllStringSubmatch(read(f), -1) {
			pins++
			check(f+": image "+m[0], m[1])
		}
	}
	if pins < 2 {
		t.Errorf("found %d pinned images in %v; the compose file and the README pin one each", pins, files)
	}
}

// TestREADMEAccountsFile: the accounts file the README shows passes
// --config.check once its key file exists and its variable is set.
func TestREADMEAccountsFile(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(# sunor.yml.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no ```yaml block starting with # sunor.yml")
	}
	dir := t.TempDir()
	yml := string(m[1])
	for _, f := range regexp.MustCompile(`api_key_file: (\S+)`).FindAllStringSubmatch(yml, -1) {
		key := filepath.Join(dir, filepath.Base(f[1]))
		if err := os.WriteFile(key, []byte("sk-readme-example\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		yml = strings.ReplaceAll(yml, f[0], "api_key_file: "+key)
	}
	for _, v := range regexp.MustCompile(`api_key_env: (\S+)`).FindAllStringSubmatch(yml, -1) {
		t.Setenv(v[1], "sk-readme-example-2")
	}
	t.Setenv("SUNOR_API_KEY", "")
	cfg := filepath.Join(dir, "sunor.yml")
	writeConfig(t, cfg, yml)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config.file=" + cfg, "--config.check"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "OK") {
		t.Errorf("--config.check of the README's accounts file: exit %d, %s%s", code, stdout.String(), stderr.String())
	}
}
