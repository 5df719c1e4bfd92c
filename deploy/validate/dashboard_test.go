//lint:file-ignore SA1019 The dashboard is a v1 (classic) dashboard JSON, which Grafana 11 provisions and imports; dashboard.Dashboard is its schema. dashboardv2 is another format.

package validate

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// dashboardFile is the Grafana dashboard users import or provision.
const dashboardFile = "../grafana/dashboards/sunor.json"

func init() {
	// Panel options (stat, timeseries, …) and Prometheus queries are only
	// checked against their own schemas when their plugins are registered.
	plugins.RegisterDefaultPlugins()
}

// decodeDashboard decodes raw strictly with Grafana's own schema
// (grafana-foundation-sdk): a missing required field, a field of the wrong
// type or an unknown field is an error.
func decodeDashboard(raw []byte) (*dashboard.Dashboard, error) {
	var d dashboard.Dashboard
	err := d.UnmarshalJSONStrict(raw)
	// The SDK returns its error list as an error even when it is empty.
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		err = nil
	}
	return &d, err
}

// TestDashboardStrictSchema: the dashboard follows Grafana's schema.
func TestDashboardStrictSchema(t *testing.T) {
	checkDashboard(t, dashboardFile, mustRead(t, dashboardFile))
}

func checkDashboard(t *testing.T, name string, raw []byte) {
	t.Helper()
	d, err := decodeDashboard(raw)
	if err != nil {
		t.Fatalf("%s does not follow Grafana's dashboard schema:\n%v", name, err)
	}
	if len(d.Panels) == 0 {
		t.Errorf("%s: no panels decoded", name)
	}
}

// TestDashboardStrictSchemaCatchesMissingField: the check above can fail.
// Dropping one required field of a stat panel must be reported by path.
func TestDashboardStrictSchemaCatchesMissingField(t *testing.T) {
	var d map[string]any
	if err := json.Unmarshal(mustRead(t, dashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	for i, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		if p["type"] != "stat" {
			continue
		}
		delete(p["options"].(map[string]any), "wideLayout")
		raw, _ := json.Marshal(d)
		_, err := decodeDashboard(raw)
		want := "panels[" + strconv.Itoa(i) + "].options.wideLayout: required field is missing"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without wideLayout: got %v, want an error containing %q", err, want)
		}
		return
	}
	t.Fatal("no stat panel in the dashboard")
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
