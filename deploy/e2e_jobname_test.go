//go:build e2e

package deploy

// The end-to-end test of a scrape job not named sunor: the mixin rendered
// with sunorSelector job="credits", Debian's prometheus scraping the
// exporter under that name (the project's prometheus.yml with the job
// renamed), every dashboard query answered, the API call latency
// histogram's quantiles computed, SunorExporterDown quiet while the
// exporter is scraped and firing for job "credits" once it is not. Run it
// with deploy/e2e.sh.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
	"github.com/sunor-community/sunor_exporter/tools/mixin/render"
)

func TestEndToEndJobName(t *testing.T) {
	prometheus := tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	exporterBin := testtool.ExporterBinary(t)

	fake := fakesunor.New("")
	fake.RateLimit = 120 * 60 // compressed 60 times, like the rules: see TestEndToEnd
	fake.SetAccount(e2eKey, fakesunor.Account{Available: 100000, Frozen: 10, BurnPerMinute: 60})
	fakeSrv := testtool.ServeAPI(t, fake)
	// An owner label and a daily budget, which the dashboard's variables
	// and its Accounts table read.
	writeFile(t, filepath.Join(dir, "sunor.yml"), `accounts:
  - name: e2e
    api_key_env: E2E_SUNOR_KEY
    labels: {team: music}
    daily_budget: 100000
`)
	exporterAddr := freeAddr(t)
	exporter := proc(t, "exporter", []string{"E2E_SUNOR_KEY=" + e2eKey, "SUNOR_API_KEY=", "SUNOR_API_KEY_FILE="}, exporterBin,
		"--config.file="+filepath.Join(dir, "sunor.yml"), "--sunor.url="+fakeSrv.URL,
		"--web.listen-address="+exporterAddr, "--sunor.timeout=2s",
		"--sunor.max-calls-per-minute=0") // see TestEndToEnd

	files, err := render.Render("../mixin", `{sunorSelector: 'job="credits"'}`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(cfg), "job_name: sunor\n") != 1 {
		t.Fatal("prometheus/prometheus.yml has no job_name: sunor to rename")
	}
	example := filepath.Join(dir, "credits.yml")
	writeFile(t, example, strings.Replace(string(cfg), "job_name: sunor\n", "job_name: credits\n", 1))
	// No Alertmanager: the test reads the alerts from Prometheus.
	prom := startPrometheusWith(t, prometheus, dir, example, exporterAddr, freeAddr(t), files[render.RulesFile])

	poll(t, "Prometheus scrapes the exporter as job credits", 60*time.Second, func() error {
		return prom.expect(`up{job="credits"} == 1 and on() sunor_credits_available{job="credits"} > 99000`)
	})
	scraped := time.Now()

	t.Run("every dashboard query returns data", func(t *testing.T) {
		d := readDashboard(t)
		vars := strings.NewReplacer(`$account`, `.+`, `$instance`, `.+`, `$team`, `.*`, `$__rate_interval`, `1m`, `$__interval`, `15s`, `$__range_s`, `300`, `$__range`, `5m`)
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				q := vars.Replace(tg.Expr)
				poll(t, fmt.Sprintf("panel %q", p.Title), 60*time.Second, func() error { return prom.expect(q) })
			}
		}
	})

	t.Run("histogram_quantile over sunor_api_call_duration_seconds gives each endpoint's p99", func(t *testing.T) {
		q := `histogram_quantile(0.99, sum by (le, endpoint) (rate(sunor_api_call_duration_seconds_bucket{job="credits"}[1m])))`
		poll(t, q, 60*time.Second, func() error {
			r, err := prom.query(q)
			if err != nil {
				return err
			}
			for _, x := range r {
				s, _ := x.Value[1].(string)
				v, err := strconv.ParseFloat(s, 64)
				if x.Metric["endpoint"] == "balance" && err == nil && v > 0 && !math.IsInf(v, 0) {
					t.Logf("%s: %v", q, r)
					return nil
				}
			}
			return fmt.Errorf("no finite p99 of endpoint balance: %v", r)
		})
	})

	t.Run("SunorExporterDown: quiet while the exporter is scraped as credits, firing for job credits once it is not", func(t *testing.T) {
		// Its for: is 5 s here: once the rules have been evaluated for
		// longer than that since the exporter was first scraped, rules
		// looking for up{job="sunor"} would be firing.
		poll(t, "the rules evaluated 10 s after the first scrape", 30*time.Second, func() error {
			last, err := prom.lastEvaluation()
			if err != nil {
				return err
			}
			if last.Before(scraped.Add(10 * time.Second)) {
				return fmt.Errorf("last evaluation at %s", last)
			}
			return nil
		})
		if r, err := prom.query(`ALERTS{alertname="SunorExporterDown"}`); err != nil || len(r) != 0 {
			t.Fatalf("SunorExporterDown while the exporter is scraped: %v %v", r, err)
		}
		exporter.Stop(10 * time.Second)
		want := fmt.Sprintf(`Prometheus cannot scrape sunor_exporter (%s), or has no target for job "credits": no credit alert can fire.`, exporterAddr)
		poll(t, "SunorExporterDown firing for job credits", 30*time.Second, func() error {
			alerts, err := prom.alerts()
			if err != nil {
				return err
			}
			for _, a := range alerts {
				if a.Labels["alertname"] == "SunorExporterDown" && a.State == "firing" && a.Labels["job"] == "credits" && a.Labels["instance"] == exporterAddr {
					if a.Annotations["description"] != want {
						t.Errorf("description %q, want %q", a.Annotations["description"], want)
					}
					return nil
				}
			}
			return fmt.Errorf("alerts: %+v", alerts)
		})
	})
}

// lastEvaluation is when Prometheus last evaluated its sunor rule group.
func (p promClient) lastEvaluation() (time.Time, error) {
	var body struct {
		Data struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := p.getJSON("/api/v1/rules", &body); err != nil {
		return time.Time{}, err
	}
	for _, g := range body.Data.Groups {
		if g.Name == "sunor" {
			return g.LastEvaluation, nil
		}
	}
	return time.Time{}, fmt.Errorf("no rule group sunor: %+v", body.Data.Groups)
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// alerts are Prometheus's active alerts, with their annotations.
func (p promClient) alerts() ([]promAlert, error) {
	var body struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	err := p.getJSON("/api/v1/alerts", &body)
	return body.Data.Alerts, err
}

func (p promClient) getJSON(path string, v any) error {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
