//go:build e2e

package deploy

// The end-to-end test: the exporter, the project's fake Sunor API, Debian's
// prometheus with the project's rules and prometheus-alertmanager with the
// project's routing, a webhook receiver owned by the test, all on loopback.
// It drives the fake and checks what reaches the webhook, then checks every
// dashboard query against that Prometheus. Run it with deploy/e2e.sh.
//
// The rules and Alertmanager timers are compressed 60 times (a minute of
// the real files becomes a second) so that the test takes about a minute;
// the exact timings are what promtool test rules checks.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/fakesunor"
)

const (
	e2eKey    = "e2e-key-3a7f"
	secondKey = "second-key-91c2"
)

// compress turns minutes into seconds and hours into minutes in rule and
// Alertmanager files: durations after "for:" and in range selectors, and
// Alertmanager's timers.
func compress(s string) string {
	s = regexp.MustCompile(`(for|group_wait|group_interval|repeat_interval|resolve_timeout): (\d+)m\b`).ReplaceAllString(s, "$1: ${2}s")
	s = regexp.MustCompile(`(for|group_wait|group_interval|repeat_interval|resolve_timeout): (\d+)h\b`).ReplaceAllString(s, "$1: ${2}m")
	s = regexp.MustCompile(`(group_wait|group_interval): (\d+)s\b`).ReplaceAllString(s, "$1: 1s")
	s = regexp.MustCompile(`\[(\d+)m\]`).ReplaceAllString(s, "[${1}s]")
	s = regexp.MustCompile(`\[(\d+)h\]`).ReplaceAllString(s, "[${1}m]")
	return s
}

// webhook records what Alertmanager sends and signals each delivery.
type webhook struct {
	mu     sync.Mutex
	alerts []amAlert
	got    chan struct{}
	url    string
}

type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{got: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []amAlert `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			t.Errorf("webhook: %v", err)
			return
		}
		w.mu.Lock()
		w.alerts = append(w.alerts, msg.Alerts...)
		w.mu.Unlock()
		w.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// waitFor waits for a delivery of alertname in status for account.
func (w *webhook) waitFor(t *testing.T, alertname, status, account string, timeout time.Duration) amAlert {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, a := range w.alerts {
			if a.Labels["alertname"] == alertname && a.Status == status && a.Labels["account"] == account {
				w.mu.Unlock()
				return a
			}
		}
		w.mu.Unlock()
		select {
		case <-w.got:
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("no %s %s for account %q reached the webhook within %s; got %+v", alertname, status, account, timeout, w.alerts)
		}
	}
}

func (w *webhook) delivered(alertname, status string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.alerts {
		if a.Labels["alertname"] == alertname && a.Status == status {
			n++
		}
	}
	return n
}

func (w *webhook) deliveredFor(alertname, account string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.alerts {
		if a.Labels["alertname"] == alertname && a.Labels["account"] == account {
			n++
		}
	}
	return n
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc starts a program logging to a file in dir, stopped at cleanup; its
// log is shown if the test fails.
func proc(t *testing.T, dir, name string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 25 {
				lines = lines[len(lines)-25:]
			}
			t.Logf("--- last lines of %s:\n%s", name, strings.Join(lines, "\n"))
		}
	})
	return cmd
}

// poll retries fn until it returns nil or the timeout passes: Prometheus
// has no way to tell us, so we ask.
func poll(t *testing.T, what string, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type promClient struct{ base string }

type promResult struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p promClient) query(q string) ([]promResult, error) {
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			Result []promResult `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", q, body.ErrorType, body.Error)
	}
	return body.Data.Result, nil
}

func (p promClient) expect(q string) error {
	r, err := p.query(q)
	if err != nil {
		return err
	}
	if len(r) == 0 {
		return fmt.Errorf("%s: no data", q)
	}
	return nil
}

func putFake(t *testing.T, base, key, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/fake/accounts/"+key, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("fake: %d %s", resp.StatusCode, b)
	}
}

func TestEndToEnd(t *testing.T) {
	prometheus := tool(t, "prometheus", "prometheus")
	alertmanager := tool(t, "prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()

	exporterBin := filepath.Join(dir, "sunor_exporter")
	if out, err := exec.Command("go", "build", "-o", exporterBin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	fake := fakesunor.New("")
	// Spending 60 credits a minute from 100000: a burn rate for the
	// dashboard, and more than 24 hours left, so no forecast alert.
	fake.SetAccount(e2eKey, fakesunor.Account{Available: 100000, Frozen: 10, BurnPerMinute: 60})
	// A second account that stays healthy throughout: its alerts must not
	// fire when the first one's do.
	fake.SetAccount(secondKey, fakesunor.Account{Available: 50000, BurnPerMinute: 60})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)
	t.Cleanup(fake.Close)
	hooks := newWebhook(t)

	// The exporter, with two accounts from a config file: one key in the
	// environment, one in a file.
	writeFile(t, filepath.Join(dir, "second.key"), secondKey+"\n")
	writeFile(t, filepath.Join(dir, "sunor.yml"), fmt.Sprintf(`accounts:
  - name: e2e
    api_key_env: E2E_SUNOR_KEY
  - name: second
    api_key_file: %s
`, filepath.Join(dir, "second.key")))
	exporterAddr := freeAddr(t)
	proc(t, dir, "exporter", []string{"E2E_SUNOR_KEY=" + e2eKey, "SUNOR_API_KEY=", "SUNOR_API_KEY_FILE="}, exporterBin,
		"--config.file="+filepath.Join(dir, "sunor.yml"), "--sunor.url="+fakeSrv.URL,
		"--web.listen-address="+exporterAddr, "--sunor.timeout=2s")

	// Alertmanager with the project's routing and inhibition; receivers
	// point at the webhook.
	amCfg, err := os.ReadFile("alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	am := regexp.MustCompile(`url: http://127\.0\.0\.1:5001/\S+`).ReplaceAllString(compress(string(amCfg)), "url: "+hooks.url+"/")
	if strings.Contains(am, "5001") {
		t.Fatal("a receiver URL was not replaced")
	}
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), am)
	amAddr := freeAddr(t)
	proc(t, dir, "alertmanager", nil, alertmanager,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Prometheus with the project's rules.
	rules, err := os.ReadFile("prometheus/rules/sunor.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sunor.rules.yml"), compress(string(rules)))
	promAddr := freeAddr(t)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [sunor.rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: sunor
    static_configs: [{targets: [%q]}]
`, amAddr, exporterAddr))
	proc(t, dir, "prometheus", nil, prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	prom := promClient{"http://" + promAddr}

	poll(t, "Prometheus scrapes the exporter", 60*time.Second, func() error {
		return prom.expect(`up{job="sunor"} == 1 and on() sunor_credits_available{account="e2e"} > 99000 and on() sunor_credits_available{account="second"} > 49000`)
	})
	poll(t, "Alertmanager is ready", 30*time.Second, func() error {
		resp, err := http.Get("http://" + amAddr + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	t.Run("every dashboard query parses and returns data", func(t *testing.T) {
		poll(t, "a burn rate", 60*time.Second, func() error {
			return prom.expect(`account:sunor_credits_burn_per_hour:deriv1h{account="e2e"} > 0 and on() account:sunor_credits_burn_per_hour:usage1h{account="e2e"} > 0 and on() account:sunor_credits_hours_left:6h`)
		})
		d := readDashboard(t)
		vars := strings.NewReplacer(`$account`, `.+`, `$instance`, `.+`, `$__rate_interval`, `1m`, `$__interval`, `15s`, `$__range`, `5m`)
		n := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				q := vars.Replace(tg.Expr)
				if err := prom.expect(q); err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
				}
				n++
			}
		}
		// Template variables: label_values(metric{...}, label).
		lv := regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, _ := v.Query.(map[string]any)["query"].(string)
			m := lv.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("variable %s: unexpected query %q", v.Name, q)
				continue
			}
			r, err := prom.query(fmt.Sprintf("count by (%s) (%s)", m[2], vars.Replace(m[1])))
			if err != nil || len(r) == 0 || r[0].Metric[m[2]] == "" {
				t.Errorf("variable %s: %q gives %v, %v", v.Name, q, r, err)
			}
			if v.Name == "account" && len(r) != 2 {
				t.Errorf("variable account lists %d accounts, want 2: %v", len(r), r)
			}
			n++
		}
		t.Logf("%d dashboard queries returned data", n)
	})

	t.Run("credits fall under the threshold: SunorCreditsLow reaches the webhook", func(t *testing.T) {
		if n := hooks.delivered("SunorCreditsLow", "firing"); n != 0 {
			t.Fatalf("SunorCreditsLow fired with a healthy balance")
		}
		putFake(t, fakeSrv.URL, e2eKey, `{"available": 120, "burn_per_minute": 0}`)
		a := hooks.waitFor(t, "SunorCreditsLow", "firing", "e2e", 60*time.Second)
		if a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["description"], "has 120 credits available") {
			t.Errorf("alert as delivered: %+v", a)
		}
		if n := hooks.deliveredFor("SunorCreditsLow", "second"); n != 0 {
			t.Errorf("SunorCreditsLow reached the webhook for the healthy account")
		}
	})

	t.Run("the API breaks: SunorAPIDown fires with the reason and inhibits the credit alert", func(t *testing.T) {
		putFake(t, fakeSrv.URL, e2eKey, `{"fail": "server_error"}`)
		a := hooks.waitFor(t, "SunorAPIDown", "firing", "e2e", 60*time.Second)
		if !strings.Contains(a.Annotations["description"], "Most frequent reason lately: server_error") {
			t.Errorf("SunorAPIDown does not name the reason: %q", a.Annotations["description"])
		}
		if err := prom.expect(`sunor_api_up{account="second"} == 1 and on() sunor_credits_available{account="second"}`); err != nil {
			t.Errorf("the healthy account lost its series while the other's API failed: %v", err)
		}
		if n := hooks.deliveredFor("SunorAPIDown", "second"); n != 0 {
			t.Errorf("SunorAPIDown reached the webhook for the healthy account")
		}
		// SunorCreditsLow still fires in Prometheus (last known value) and
		// is inhibited in Alertmanager.
		if err := prom.expect(`ALERTS{alertname="SunorCreditsLow",alertstate="firing",account="e2e"}`); err != nil {
			t.Errorf("SunorCreditsLow stopped firing during the outage: %v", err)
		}
		poll(t, "SunorCreditsLow is inhibited", 30*time.Second, func() error {
			resp, err := http.Get("http://" + amAddr + "/api/v2/alerts?filter=" + url.QueryEscape(`alertname="SunorCreditsLow"`))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var alerts []struct {
				Status struct {
					State       string   `json:"state"`
					InhibitedBy []string `json:"inhibitedBy"`
				} `json:"status"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
				return err
			}
			if len(alerts) != 1 || alerts[0].Status.State != "suppressed" || len(alerts[0].Status.InhibitedBy) == 0 {
				return fmt.Errorf("SunorCreditsLow in Alertmanager: %+v", alerts)
			}
			return nil
		})
	})

	t.Run("the API recovers and credits are topped up: both alerts resolve", func(t *testing.T) {
		putFake(t, fakeSrv.URL, e2eKey, `{"fail": "", "available": 100000}`)
		hooks.waitFor(t, "SunorAPIDown", "resolved", "e2e", 60*time.Second)
		hooks.waitFor(t, "SunorCreditsLow", "resolved", "e2e", 60*time.Second)
	})

}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
