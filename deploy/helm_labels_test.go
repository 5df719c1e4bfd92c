package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sunor-community/sunor_exporter/internal/config"
)

// TestHelmSchemaRefusesTheExportersReservedLabels: the chart's
// values.schema.json refuses exactly the owner label names the exporter
// refuses (internal/config's list, and the __ prefix), wherever the chart
// takes labels, and its message lists them all: a chart that rendered
// `labels: {reason: x}` would give a pod that crash-loops on it.
func TestHelmSchemaRefusesTheExportersReservedLabels(t *testing.T) {
	t.Setenv(config.EnvAPIKey, "")
	b, err := os.ReadFile("helm/sunor-exporter/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Definitions struct {
			OwnerLabels struct {
				PatternProperties map[string]struct {
					Const string `json:"const"`
				} `json:"patternProperties"`
			} `json:"ownerLabels"`
		} `json:"definitions"`
		Properties map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Items      struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"items"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	for where, labels := range map[string]json.RawMessage{
		"accounts[].labels": schema.Properties["accounts"].Items.Properties["labels"],
		"defaults.labels":   schema.Properties["defaults"].Properties["labels"],
		"sunor.labels":      schema.Properties["sunor"].Properties["labels"],
	} {
		var ref struct {
			Ref string `json:"$ref"`
		}
		if json.Unmarshal(labels, &ref) != nil || ref.Ref != "#/definitions/ownerLabels" {
			t.Errorf("%s is %s, want the one definition of owner labels", where, labels)
		}
	}
	pp := schema.Definitions.OwnerLabels.PatternProperties
	if len(pp) != 1 {
		t.Fatalf("definitions.ownerLabels.patternProperties: %v, want one pattern of reserved names", pp)
	}
	for pattern, refusal := range pp {
		inner, ok := strings.CutPrefix(pattern, "^(")
		inner, ok2 := strings.CutSuffix(inner, ")$")
		if !ok || !ok2 {
			t.Fatalf("pattern %q: want ^(name|...|__.*)$", pattern)
		}
		names := strings.Split(inner, "|")
		if !slices.Contains(names, "__.*") {
			t.Errorf("pattern %q does not refuse the __ prefix", pattern)
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == "__.*" })
		want := config.ReservedLabels()
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("the chart refuses the label names %v; the exporter %v", names, want)
		}
		re := regexp.MustCompile(pattern)
		for _, n := range append(want, "__name__", "__x") {
			if !re.MatchString(n) {
				t.Errorf("the chart accepts the label %q", n)
			}
			if !refused(t, n) {
				t.Errorf("the exporter accepts the label %q the chart refuses", n)
			}
			named := n
			if strings.HasPrefix(n, "__") {
				named = "__"
			}
			if !strings.Contains(refusal.Const, named) {
				t.Errorf("the chart's message %q does not name %q", refusal.Const, named)
			}
		}
		for _, n := range []string{"team", "env", "accounts", "reasons", "job_name", "_x", "instance2"} {
			if re.MatchString(n) {
				t.Errorf("the chart refuses the label %q", n)
			}
			if refused(t, n) {
				t.Errorf("the exporter refuses the label %q the chart accepts", n)
			}
		}
	}
}

// refused says whether the exporter refuses the owner label name.
func refused(t *testing.T, name string) bool {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sunor.yml")
	if err := os.WriteFile(p, []byte("accounts:\n  - {name: a, api_key_env: K, labels: {"+name+": v}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := config.Accounts(p, "", config.Account{URL: "https://sunor.cc", Timeout: 1e9, TaskCost: 10})
	if err != nil && !strings.Contains(err.Error(), "is reserved") {
		t.Fatalf("label %q: %v", name, err)
	}
	return err != nil
}
