package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
	"github.com/sunor-community/sunor_exporter/tools/mixin/render"
)

// TestMixinRendersGeneratedFiles: the rules, the dashboard, the Helm
// chart's copies and the PrometheusRule are exactly what the mixin renders
// with its defaults: an edit to a generated file, or to mixin/ without
// `make mixin`, fails here.
func TestMixinRendersGeneratedFiles(t *testing.T) {
	files, err := render.Render("../mixin", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Errorf("the mixin renders %d files, want 5", len(files))
	}
	for name, want := range files {
		have, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(have, want) {
			t.Errorf("%s differs from what mixin/ renders (first difference at line %d): edit mixin/ and run `make mixin`", name, firstDiffLine(have, want))
		}
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// toJob rewrites the promtool tests for a scrape job named job: the input
// series' job label, the alerts' expected job label, and the job named in
// SunorExporterDown's description.
func toJob(t *testing.T, tests, job string) string {
	t.Helper()
	r := strings.NewReplacer(`job="sunor"`, `job="`+job+`"`, `job: sunor`, `job: `+job, `job "sunor"`, `job "`+job+`"`)
	out := r.Replace(tests)
	for _, s := range []string{`job="sunor"`, `job: sunor`, `job "sunor"`} {
		if !strings.Contains(tests, s) || (job != "sunor" && strings.Contains(out, s)) {
			t.Fatalf("the promtool tests no longer say %s: update toJob", s)
		}
	}
	return out
}

// promtoolTest runs the promtool tests (rewritten for job) against rules,
// both written to a directory of their own, and returns whether they
// passed, with promtool's output.
func promtoolTest(t *testing.T, rules []byte, job string) (bool, string) {
	t.Helper()
	tests, err := os.ReadFile("prometheus/tests/sunor.rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The tests name their rules as ../rules/sunor.rules.yml.
	for _, d := range []string{"rules", "tests"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{"rules/sunor.rules.yml": string(rules), "tests/sunor.rules.test.yml": toJob(t, string(tests), job)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	promtool := tool(t, "promtool", "prometheus")
	code, out := testtool.Run(t, exec.Command(promtool, "test", "rules", filepath.Join(dir, "tests", "sunor.rules.test.yml")), 2*time.Minute)
	return code == 0 && strings.Contains(out, "SUCCESS"), out
}

// TestMixinAnyJobName: rendered with sunorSelector job="credits", the rules
// pass every promtool test with the exporter scraped as job "credits"
// (the tests' series and expected alerts rewritten for it), and so do the
// default rules with job "sunor"; the default rules do not pass them under
// "credits" (SunorExporterDown looks for up{job="sunor"}), so the rewrite
// reaches what depends on the job. The dashboard is the same under any
// job: its queries match the exporter's series by name.
func TestMixinAnyJobName(t *testing.T) {
	defaults, err := render.Render("../mixin", "")
	if err != nil {
		t.Fatal(err)
	}
	credits, err := render.Render("../mixin", `{sunorSelector: 'job="credits"'}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		rules []byte
		job   string
		pass  bool
	}{
		{`rules for job="credits", exporter scraped as credits`, credits[render.RulesFile], "credits", true},
		{`default rules, exporter scraped as sunor`, defaults[render.RulesFile], "sunor", true},
		{`default rules, exporter scraped as credits`, defaults[render.RulesFile], "credits", false},
	} {
		ok, out := promtoolTest(t, c.rules, c.job)
		if ok != c.pass {
			t.Errorf("%s: promtool test rules passed: %v, want %v\n%s", c.what, ok, c.pass, out)
		}
		if !c.pass && !strings.Contains(out, "alertname: SunorExporterDown") {
			t.Errorf("%s: failed for another reason than SunorExporterDown:\n%s", c.what, out)
		}
	}
	if !strings.Contains(string(credits[render.RulesFile]), `up{job="credits"} == 0 or absent(up{job="credits"})`) {
		t.Error(`the rules rendered for job="credits" do not look for up{job="credits"}`)
	}
	if strings.Contains(string(credits[render.RulesFile]), `"sunor"`) {
		t.Error(`the rules rendered for job="credits" still name the job "sunor"`)
	}
	if !bytes.Equal(credits[render.DashboardFile], defaults[render.DashboardFile]) {
		t.Error("the dashboard depends on sunorSelector")
	}
}

// TestMixinConfig: what docs/mixin.md says _config changes, it changes:
// the threshold's fallback, a for: and the description that names it, a
// ratio, the runbook links, the dashboard's UID and tags.
func TestMixinConfig(t *testing.T) {
	files, err := render.Render("../mixin", `{
		defaultLowCreditsThreshold: 750,
		alertFor+: { SunorAPIDown: '15m' },
		rateLimitRemainingRatio: 0.05,
		runbookURLPattern: 'https://wiki.example/sunor#%s',
		dashboardUID: 'credits-prod',
		dashboardTags: ['billing'],
	}`)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record      string            `yaml:"record"`
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(files[render.RulesFile], &rules); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range rules.Groups[0].Rules {
		if r.Alert != "" && r.Annotations["runbook_url"] != "https://wiki.example/sunor#"+strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q", r.Alert, r.Annotations["runbook_url"])
		}
		switch {
		case r.Record == "account:sunor_credits_low_threshold:last1h":
			seen++
			if !strings.Contains(r.Expr, "* 0 + 750\n") {
				t.Errorf("the threshold's fallback: %q", r.Expr)
			}
		case r.Alert == "SunorAPIDown":
			seen++
			if r.For != "15m" || !strings.Contains(r.Annotations["description"], "have failed for 15 minutes") {
				t.Errorf("SunorAPIDown: for %q, description %q", r.For, r.Annotations["description"])
			}
		case r.Alert == "SunorRateLimitNearlyExhausted":
			seen++
			if r.Expr != "account:sunor_rate_limit_remaining:ratio < 0.05" {
				t.Errorf("SunorRateLimitNearlyExhausted: %q", r.Expr)
			}
		}
	}
	if seen != 3 {
		t.Errorf("found %d of the 3 rules checked", seen)
	}
	var d struct {
		UID  string   `json:"uid"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(files[render.DashboardFile], &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != "credits-prod" || len(d.Tags) != 1 || d.Tags[0] != "billing" {
		t.Errorf("dashboard uid %q, tags %v", d.UID, d.Tags)
	}
}
