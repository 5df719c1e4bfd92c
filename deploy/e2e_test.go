//go:build e2e

package deploy

// The end-to-end test: the exporter, the project's fake Sunor API, three of
// Debian's prometheus with the project's rules and example configurations
// (prometheus.yml scraping /metrics; shard-0.yml and shard-1.yml sharing
// the accounts of /sd between them and scraping /probe),
// prometheus-alertmanager with the project's routing, a webhook receiver
// owned by the test, all on loopback. It checks every dashboard query
// against both patterns, that each account is scraped by exactly one shard
// with the labels /metrics gives, also after an account is added and the
// exporter reloaded, then drives the fake and checks what reaches the
// webhook, and through which receiver: the accounts belong to two teams,
// and each team's alerts must reach its own. Run it with deploy/e2e.sh.
//
// The rules and Alertmanager timers are compressed 60 times (a minute of
// the real files becomes a second) so that the test takes about a minute;
// the exact timings are what promtool test rules checks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
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
	// Receiver is the receiver of the notification that carried the
	// alert: every receiver's URL is the webhook's.
	Receiver string `json:"-"`
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{got: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var msg struct {
			Receiver string    `json:"receiver"`
			Alerts   []amAlert `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			t.Errorf("webhook: %v", err)
			return
		}
		for i := range msg.Alerts {
			msg.Alerts[i].Receiver = msg.Receiver
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
	return w.waitMatch(t, status, map[string]string{"alertname": alertname, "account": account}, timeout)
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

// proc starts a program, stopped at cleanup; the end of its output is
// shown if the test fails.
func proc(t *testing.T, name string, env []string, bin string, args ...string) *testtool.Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := testtool.Start(t, cmd)
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			lines := strings.Split(p.Out.String(), "\n")
			if len(lines) > 25 {
				lines = lines[len(lines)-25:]
			}
			t.Logf("--- last lines of %s:\n%s", name, strings.Join(lines, "\n"))
		}
	})
	return p
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

	exporterBin := testtool.ExporterBinary(t)

	fake := fakesunor.New("")
	// The key's budget, compressed 60 times like the rules: 120 requests a
	// minute become 120 a second. At the real 120, the scrapes of two
	// Prometheus servers (a call to each endpoint every second from each)
	// would use it up within a minute, and the exporter would then stand
	// aside at its reserve until the window resets.
	fake.RateLimit = 120 * 60
	// X-RateLimit-Limit says so (an older API's header; the rules would
	// otherwise take the documented 120).
	fake.LimitHeaders = true
	// Spending 60 credits a minute from 100000: a burn rate for the
	// dashboard, and more than 24 hours left, so no forecast alert.
	fake.SetAccount(e2eKey, fakesunor.Account{Available: 100000, Frozen: 10, BurnPerMinute: 60})
	// A second account that stays healthy throughout: its alerts must not
	// fire when the first one's do.
	fake.SetAccount(secondKey, fakesunor.Account{Available: 50000, BurnPerMinute: 60})
	fakeSrv := testtool.ServeAPI(t, fake)
	hooks := newWebhook(t)

	// The exporter, with two accounts from a config file: one key in the
	// environment, one in a file; two owners, each with its own low-credit
	// threshold, and daily budgets they stay well within (about 0.9 and
	// 0.4 times their pace).
	writeFile(t, filepath.Join(dir, "second.key"), secondKey+"\n")
	accountsFile := fmt.Sprintf(`accounts:
  - name: e2e
    api_key_env: E2E_SUNOR_KEY
    labels: {team: music, env: prod}
    low_credits_threshold: 2000
    daily_budget: 100000
  - name: second
    api_key_file: %s
    labels: {team: video}
    low_credits_threshold: 1000
    daily_budget: 200000
`, filepath.Join(dir, "second.key"))
	owners := map[string]map[string]string{"e2e": {"team": "music", "env": "prod"}, "second": {"team": "video"}, "third": nil}
	writeFile(t, filepath.Join(dir, "sunor.yml"), accountsFile)
	exporterAddr := freeAddr(t)
	proc(t, "exporter", []string{"E2E_SUNOR_KEY=" + e2eKey, "SUNOR_API_KEY=", "SUNOR_API_KEY_FILE="}, exporterBin,
		"--config.file="+filepath.Join(dir, "sunor.yml"), "--sunor.url="+fakeSrv.URL,
		"--web.listen-address="+exporterAddr, "--sunor.timeout=2s",
		// No ceiling: the rules are compressed 60 times, the budget
		// guard's clock is not. Its default 12 calls a minute would answer
		// most of these 1 s scrapes with the last good answer, reused for up
		// to 5 real minutes: a broken API would never show, and
		// SunorAPIDown never fire, within the test. The guard itself is
		// tested in collector/guard_test.go; the reserve stays on, out of
		// reach of the compressed budget above.
		"--sunor.max-calls-per-minute=0")

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
	proc(t, "alertmanager", nil, alertmanager,
		"--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Three Prometheus servers from the project's example configurations,
	// with its rules, all alerting to the Alertmanager: prometheus.yml
	// scrapes /metrics; shard-0.yml and shard-1.yml discover the accounts
	// through /sd and split them with hashmod, each scraping its half
	// through /probe.
	prom := startPrometheus(t, prometheus, dir, "prometheus/prometheus.yml", exporterAddr, amAddr)
	shards := []promClient{
		startPrometheus(t, prometheus, dir, "prometheus/shard-0.yml", exporterAddr, amAddr),
		startPrometheus(t, prometheus, dir, "prometheus/shard-1.yml", exporterAddr, amAddr),
	}

	poll(t, "Prometheus scrapes the exporter", 60*time.Second, func() error {
		return prom.expect(`up{job="sunor"} == 1 and on() sunor_credits_available{account="e2e"} > 99000 and on() sunor_credits_available{account="second"} > 49000`)
	})
	waitReady(t, "Alertmanager", "http://"+amAddr+"/-/ready")
	// Which shard scrapes which account: hashmod decides, the test only
	// checks that it is exactly one, and that each shard has some.
	var owner map[string]int

	t.Run("every dashboard query parses and returns data", func(t *testing.T) {
		poll(t, "a burn rate", 60*time.Second, func() error {
			return prom.expect(`account:sunor_credits_burn_per_hour:deriv1h{account="e2e"} > 0 and on() account:sunor_credits_burn_per_hour:usage1h{account="e2e"} > 0 and on() account:sunor_credits_hours_left:6h and on() account:sunor_credits_budget_burn:4h{account="second"}`)
		})
		d := readDashboard(t)
		// $__range_s before $__range, which it starts with.
		vars := strings.NewReplacer(`$account`, `.+`, `$instance`, `.+`, `$team`, `.*`, `$__rate_interval`, `1m`, `$__interval`, `15s`, `$__range_s`, `300`, `$__range`, `5m`)
		n := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				q := vars.Replace(tg.Expr)
				if err := prom.expect(q); err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
				}
				// Scraped through /probe by two shards, each account's
				// series are on one of them: the query works on both, and
				// together they return data.
				poll(t, fmt.Sprintf("panel %q on the shards", p.Title), 30*time.Second, func() error {
					var errs []string
					for i, s := range shards {
						err := s.expect(q)
						if err == nil {
							return nil
						}
						errs = append(errs, fmt.Sprintf("shard %d: %v", i, err))
					}
					return errors.New(strings.Join(errs, "; "))
				})
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
			countBy := fmt.Sprintf("count by (%s) (%s)", m[2], vars.Replace(m[1]))
			r, err := prom.query(countBy)
			if err != nil || len(r) == 0 || r[0].Metric[m[2]] == "" {
				t.Errorf("variable %s: %q gives %v, %v", v.Name, q, r, err)
			}
			if (v.Name == "account" || v.Name == "team") && len(r) != 2 {
				t.Errorf("variable %s lists %d values, want 2: %v", v.Name, len(r), r)
			}
			values := map[string]bool{}
			for _, s := range shards {
				r, err := s.query(countBy)
				if err != nil {
					t.Errorf("variable %s on a shard: %v", v.Name, err)
				}
				for _, x := range r {
					values[x.Metric[m[2]]] = true
				}
			}
			if v.Name == "account" && (len(values) != 2 || !values["e2e"] || !values["second"]) {
				t.Errorf("variable account lists %v on the shards together, want e2e and second", values)
			}
			n++
		}
		t.Logf("%d dashboard queries returned data", n)
	})

	t.Run("the shards: each account scraped by exactly one, with the labels /metrics gives", func(t *testing.T) {
		owner = shardOwners(t, shards, exporterAddr, []string{"e2e", "second"}, owners)
		t.Logf("accounts by shard: %v", owner)
		sameLabels(t, prom, shards, owner)
	})

	t.Run("an account added to the config file appears in exactly one shard after a reload", func(t *testing.T) {
		fake.SetAccount(thirdKey, fakesunor.Account{Available: 70000})
		writeFile(t, filepath.Join(dir, "third.key"), thirdKey+"\n")
		writeFile(t, filepath.Join(dir, "sunor.yml"), accountsFile+fmt.Sprintf("  - name: third\n    api_key_file: %s\n", filepath.Join(dir, "third.key")))
		resp, err := http.Post("http://"+exporterAddr+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /-/reload: %d %s", resp.StatusCode, b)
		}
		owner = shardOwners(t, shards, exporterAddr, []string{"e2e", "second", "third"}, owners)
		t.Logf("accounts by shard: %v", owner)
		poll(t, "the new account's balance on its shard", 30*time.Second, func() error {
			return shards[owner["third"]].expect(`sunor_credits_available{job="sunor",account="third"} == 70000`)
		})
		sameLabels(t, prom, shards, owner)
	})

	t.Run("credits fall under each account's own threshold: SunorCreditsLow reaches each team's receiver", func(t *testing.T) {
		if n := hooks.delivered("SunorCreditsLow", "firing"); n != 0 {
			t.Fatalf("SunorCreditsLow fired with a healthy balance")
		}
		// e2e: 1500 is under its 2000, not under the default 500; second:
		// 900 under its 1000.
		putFake(t, fakeSrv.URL, e2eKey, `{"available": 1500, "burn_per_minute": 0}`)
		putFake(t, fakeSrv.URL, secondKey, `{"available": 900, "burn_per_minute": 0}`)
		for _, c := range []struct{ account, receiver, has string }{
			{"e2e", "team-music", "Account e2e (env=prod, team=music) has 1500 credits available (1 credit = 1 US cent), under its threshold of 2000: 150 tasks left at 10 credits a task."},
			{"second", "team-video", "Account second (team=video) has 900 credits available (1 credit = 1 US cent), under its threshold of 1000: 90 tasks left at 10 credits a task."},
		} {
			// From the /metrics server (no shard label) and from the shard
			// that scrapes the account through /probe: the same alert.
			for _, shard := range []string{"", strconv.Itoa(owner[c.account])} {
				a := hooks.waitMatch(t, "firing", map[string]string{"alertname": "SunorCreditsLow", "account": c.account, "shard": shard}, 60*time.Second)
				if a.Receiver != c.receiver || a.Labels["severity"] != "critical" || a.Labels["instance"] != exporterAddr || !strings.Contains(a.Annotations["description"], c.has) {
					t.Errorf("alert as delivered to %s: %+v; want it at %s, saying %q", a.Receiver, a, c.receiver, c.has)
				}
			}
		}
		if n := hooks.deliveredFor("SunorCreditsLow", "third"); n != 0 {
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
		// is inhibited in Alertmanager: both, the /metrics server's and the
		// shard's.
		if err := prom.expect(`ALERTS{alertname="SunorCreditsLow",alertstate="firing",account="e2e"}`); err != nil {
			t.Errorf("SunorCreditsLow stopped firing during the outage: %v", err)
		}
		lowSuppressed(t, amAddr, "SunorCreditsLow is inhibited")
	})

	t.Run("the API recovers and credits are topped up: both alerts resolve", func(t *testing.T) {
		putFake(t, fakeSrv.URL, e2eKey, `{"fail": "", "available": 100000}`)
		putFake(t, fakeSrv.URL, secondKey, `{"available": 50000}`)
		hooks.waitFor(t, "SunorAPIDown", "resolved", "e2e", 60*time.Second)
		// Here two servers alert on one account, which only this test
		// does, and their two SunorCreditsLow share a notification group.
		// When one resolves while the other is still inhibited,
		// Alertmanager sends that resolution, and then never the other's
		// (its notification log holds no firing alert any more). So: one
		// resolution at the webhook, and both alerts gone in Prometheus.
		hooks.waitFor(t, "SunorCreditsLow", "resolved", "e2e", 60*time.Second)
		if a := hooks.waitFor(t, "SunorCreditsLow", "resolved", "second", 60*time.Second); a.Receiver != "team-video" {
			t.Errorf("the resolution of second's alert went to %s, want team-video", a.Receiver)
		}
		for i, p := range append([]promClient{prom}, shards...) {
			poll(t, fmt.Sprintf("SunorCreditsLow resolved on server %d", i), 30*time.Second, func() error {
				if r, err := p.query(`ALERTS{alertname="SunorCreditsLow"}`); err != nil || len(r) != 0 {
					return fmt.Errorf("still there: %v %v", r, err)
				}
				return nil
			})
		}
	})

	t.Run("credits fall below a task's price: SunorCreditsExhausted pages the team within 3 minutes, SunorCreditsLow inhibited", func(t *testing.T) {
		// Not before: neither a healthy balance nor the API outage above
		// (no good answer is not exhausted) ever fired it.
		if n := hooks.delivered("SunorCreditsExhausted", "firing"); n != 0 {
			t.Fatalf("SunorCreditsExhausted reached the webhook %d times before any account was below its task cost", n)
		}
		hooks.mu.Lock()
		before := len(hooks.alerts)
		hooks.mu.Unlock()
		// e2e sets no task_cost: 10, the exporter's default where it
		// exports sunor_credits_task_cost and the rules' fallback where it
		// does not. 9 credits: the API refuses its music tasks now.
		drop := time.Now()
		putFake(t, fakeSrv.URL, e2eKey, `{"available": 9, "burn_per_minute": 0}`)
		// The promise is 3 minutes from the drop to the team's receiver:
		// a scrape, an evaluation, Alertmanager's group_wait, all
		// compressed 60 times here (3 s), plus a second for what is not
		// compressed (HTTP between five processes on a shared machine).
		// The wait itself is longer, so that a late page says how late.
		const within = 3*time.Second + time.Second
		for _, shard := range []string{"", strconv.Itoa(owner["e2e"])} {
			a := hooks.waitMatch(t, "firing", map[string]string{"alertname": "SunorCreditsExhausted", "account": "e2e", "shard": shard}, 60*time.Second)
			took := time.Since(drop)
			t.Logf("SunorCreditsExhausted (shard %q) reached the webhook %s after the drop", shard, took.Round(time.Millisecond))
			if took > within {
				t.Errorf("SunorCreditsExhausted (shard %q) reached the webhook %s after the drop, want within %s", shard, took.Round(time.Millisecond), within)
			}
			want := "Account e2e (env=prod, team=music) has 9 credits available, fewer than the 10 credits one of its tasks costs"
			if a.Receiver != "team-music" || a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["description"], want) {
				t.Errorf("alert as delivered to %s: %+v; want it critical at team-music, saying %q", a.Receiver, a, want)
			}
		}
		// SunorCreditsLow fires in Prometheus (its for: is longer) and is
		// held back in Alertmanager, on both servers that alert.
		poll(t, "SunorCreditsLow firing for e2e", 60*time.Second, func() error {
			return prom.expect(`ALERTS{alertname="SunorCreditsLow",alertstate="firing",account="e2e"}`)
		})
		lowSuppressed(t, amAddr, "SunorCreditsLow is inhibited by SunorCreditsExhausted")
		// Top up: the page resolves at the team, and both alerts end.
		putFake(t, fakeSrv.URL, e2eKey, `{"available": 100000}`)
		hooks.waitFor(t, "SunorCreditsExhausted", "resolved", "e2e", 60*time.Second)
		for i, p := range append([]promClient{prom}, shards...) {
			poll(t, fmt.Sprintf("the credit alerts resolved on server %d", i), 30*time.Second, func() error {
				if r, err := p.query(`ALERTS{alertname=~"SunorCreditsLow|SunorCreditsExhausted"}`); err != nil || len(r) != 0 {
					return fmt.Errorf("still there: %v %v", r, err)
				}
				return nil
			})
		}
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		for _, a := range hooks.alerts[before:] {
			if a.Labels["alertname"] == "SunorCreditsLow" && a.Status == "firing" {
				t.Errorf("SunorCreditsLow reached the webhook while SunorCreditsExhausted fired: %+v", a)
			}
			if a.Labels["alertname"] == "SunorCreditsExhausted" && a.Labels["account"] != "e2e" {
				t.Errorf("SunorCreditsExhausted reached the webhook for a healthy account: %+v", a)
			}
		}
	})

	t.Run("a rejected reload: SunorConfigReloadFailed reaches the fallback receiver, and resolves", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "sunor.yml"), "accounts: [\n")
		if code, body := testtool.Fetch(t, http.MethodPost, "http://"+exporterAddr+"/-/reload"); code == 200 {
			t.Fatalf("POST /-/reload of a file that is not YAML: 200 %s, want it rejected", body)
		}
		a := hooks.waitMatch(t, "firing", map[string]string{"alertname": "SunorConfigReloadFailed", "instance": exporterAddr, "shard": ""}, 60*time.Second)
		if a.Receiver != "sunor-notify" || a.Labels["account"] != "" || !strings.Contains(a.Annotations["description"], "was rejected") {
			t.Errorf("alert as delivered to %s: %+v; want it at sunor-notify, without an account", a.Receiver, a)
		}
		writeFile(t, filepath.Join(dir, "sunor.yml"), accountsFile+fmt.Sprintf("  - name: third\n    api_key_file: %s\n", filepath.Join(dir, "third.key")))
		if code, body := testtool.Fetch(t, http.MethodPost, "http://"+exporterAddr+"/-/reload"); code != 200 {
			t.Fatalf("POST /-/reload of the good file: %d %s", code, body)
		}
		hooks.waitMatch(t, "resolved", map[string]string{"alertname": "SunorConfigReloadFailed", "instance": exporterAddr, "shard": ""}, 60*time.Second)
	})

	// Both accounts spent within their budgets throughout.
	if n := hooks.delivered("SunorSpendOverBudget", "firing"); n != 0 {
		t.Errorf("SunorSpendOverBudget reached the webhook %d times", n)
	}

	// Every target, /metrics or /probe, answered throughout, the reloads
	// included. (At start-up, before Prometheus applies its first targets
	// (it does so at most every 5 s, the compressed for: of this alert),
	// absent(up) may fire SunorExporterDown without an instance.)
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	for _, a := range hooks.alerts {
		if a.Labels["alertname"] == "SunorExporterDown" && a.Labels["instance"] != "" {
			t.Errorf("SunorExporterDown reached the webhook: %+v", a)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const thirdKey = "third-key-5d08"

// waitMatch waits for a delivery in status whose labels have the values in
// want; a value "" wants the label absent.
func (w *webhook) waitMatch(t *testing.T, status string, want map[string]string, timeout time.Duration) amAlert {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
	alerts:
		for _, a := range w.alerts {
			if a.Status != status {
				continue
			}
			for k, v := range want {
				if a.Labels[k] != v {
					continue alerts
				}
			}
			w.mu.Unlock()
			return a
		}
		w.mu.Unlock()
		select {
		case <-w.got:
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("no alert %s with labels %v reached the webhook within %s; got %+v", status, want, timeout, w.alerts)
		}
	}
}

// startPrometheus runs Debian's prometheus with one of the project's example
// configurations, in its own directory next to the project's rules, both
// compressed 60 times (intervals of a minute become a second), scraping the
// exporter at exporterAddr and alerting to amAddr.
func startPrometheus(t *testing.T, bin, dir, example, exporterAddr, amAddr string) promClient {
	t.Helper()
	rules, err := os.ReadFile("prometheus/rules/sunor.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	return startPrometheusWith(t, bin, dir, example, exporterAddr, amAddr, rules)
}

// startPrometheusWith is startPrometheus with the rules given.
func startPrometheusWith(t *testing.T, bin, dir, example, exporterAddr, amAddr string, rules []byte) promClient {
	t.Helper()
	cfg, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	c := string(cfg)
	for _, s := range []string{"sunor-exporter:10151", "alertmanager:9093", "evaluation_interval: 1m", "scrape_interval: 1m", "scrape_timeout: 15s", "rule_files:\n  - rules/sunor.rules.yml"} {
		if !strings.Contains(c, s) {
			t.Fatalf("%s lacks %q: update startPrometheus", example, s)
		}
	}
	c = strings.NewReplacer("sunor-exporter:10151", exporterAddr, "alertmanager:9093", amAddr, "scrape_timeout: 15s", "scrape_timeout: 1s").Replace(c)
	c = regexp.MustCompile(`(evaluation_interval|scrape_interval|refresh_interval): 1m\b`).ReplaceAllString(c, "$1: 1s")
	name := strings.TrimSuffix(filepath.Base(example), ".yml")
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(home, "rules"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "rules", "sunor.rules.yml"), compress(string(rules)))
	writeFile(t, filepath.Join(home, "prometheus.yml"), c)
	addr := freeAddr(t)
	proc(t, name, nil, bin,
		"--config.file="+filepath.Join(home, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(home, "tsdb"),
		"--web.listen-address="+addr)
	return promClient{"http://" + addr}
}

type promTarget struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	Labels           map[string]string `json:"labels"`
	ScrapeURL        string            `json:"scrapeUrl"`
	Health           string            `json:"health"`
	LastError        string            `json:"lastError"`
}

func (p promClient) targets() (active, dropped []promTarget, err error) {
	resp, err := http.Get(p.base + "/api/v1/targets?state=any")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Active  []promTarget `json:"activeTargets"`
			Dropped []promTarget `json:"droppedTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, nil, err
	}
	return body.Data.Active, body.Data.Dropped, nil
}

// shardOwners waits until every shard has discovered exactly the accounts
// (each a target of /sd), keeps some, and scrapes each account it keeps
// through /probe with the labels the rules need and its owner labels,
// while every account is kept by exactly one shard; it returns the shard of
// each account.
func shardOwners(t *testing.T, shards []promClient, exporterAddr string, accounts []string, owners map[string]map[string]string) map[string]int {
	t.Helper()
	var owner map[string]int
	poll(t, fmt.Sprintf("every account of %v scraped by exactly one shard", accounts), 30*time.Second, func() error {
		owner = map[string]int{}
		for i, s := range shards {
			active, dropped, err := s.targets()
			if err != nil {
				return err
			}
			// The account's name is the target /sd lists, and also its
			// __meta_sunor_account, which no relabelling writes. With the
			// labelmap of the owner labels, Debian's Prometheus (2.42) was
			// seen to report the exporter's address as a target's
			// discovered __address__.
			var seen []string
			for _, tg := range dropped {
				seen = append(seen, tg.DiscoveredLabels["__meta_sunor_account"])
			}
			for _, tg := range active {
				name := tg.DiscoveredLabels["__meta_sunor_account"]
				seen = append(seen, name)
				want := map[string]string{"job": "sunor", "instance": exporterAddr, "account": name}
				maps.Copy(want, owners[name])
				if !reflect.DeepEqual(tg.Labels, want) {
					return fmt.Errorf("shard %d: target %q has labels %v, want %v", i, name, tg.Labels, want)
				}
				if u := "http://" + exporterAddr + "/probe?account=" + url.QueryEscape(name); tg.ScrapeURL != u {
					return fmt.Errorf("shard %d: target %q scrapes %s, want %s", i, name, tg.ScrapeURL, u)
				}
				if tg.Health != "up" {
					return fmt.Errorf("shard %d: target %q is %s (%s)", i, name, tg.Health, tg.LastError)
				}
				if j, dup := owner[name]; dup {
					return fmt.Errorf("account %q is scraped by shards %d and %d", name, j, i)
				}
				owner[name] = i
			}
			slices.Sort(seen)
			if !slices.Equal(seen, sorted(accounts)) {
				return fmt.Errorf("shard %d discovered %v, want %v", i, seen, accounts)
			}
			if !slices.Contains(slices.Collect(maps.Values(owner)), i) {
				return fmt.Errorf("shard %d scrapes no account", i)
			}
		}
		if len(owner) != len(accounts) {
			return fmt.Errorf("accounts scraped: %v, want each of %v", owner, accounts)
		}
		return nil
	})
	return owner
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// sameLabels checks, with the shards' own storage, that the probe pattern
// gives every series the labels the /metrics pattern gives it: the same
// sunor_api_up series, labelled job, instance and account; account on
// every series of the job, up included (the target label and the
// exporter's agree: honor_labels), never an exported_* label; and each
// account's series on its own shard only.
func sameLabels(t *testing.T, prom promClient, shards []promClient, owner map[string]int) {
	t.Helper()
	key := func(m map[string]string) string {
		var kv []string
		for k, v := range m {
			kv = append(kv, k+"="+v)
		}
		slices.Sort(kv)
		return strings.Join(kv, ",")
	}
	poll(t, "the same sunor_api_up series through /metrics and through the shards' /probe", 30*time.Second, func() error {
		r, err := prom.query(`sunor_api_up`)
		if err != nil {
			return err
		}
		var viaMetrics, viaProbe []string
		for _, x := range r {
			viaMetrics = append(viaMetrics, key(x.Metric))
		}
		for _, s := range shards {
			r, err := s.query(`sunor_api_up`)
			if err != nil {
				return err
			}
			for _, x := range r {
				viaProbe = append(viaProbe, key(x.Metric))
			}
		}
		slices.Sort(viaMetrics)
		slices.Sort(viaProbe)
		if len(viaMetrics) != len(owner) || !slices.Equal(viaMetrics, viaProbe) {
			return fmt.Errorf("through /metrics: %v; through /probe: %v; want one per account of %v", viaMetrics, viaProbe, owner)
		}
		return nil
	})
	for i, s := range shards {
		for _, q := range []string{`{job="sunor",account="",__name__!~"ALERTS.*"}`, `{exported_account=~".+"}`, `{exported_instance=~".+"}`, `{exported_job=~".+"}`} {
			if r, err := s.query(q); err != nil || len(r) != 0 {
				t.Errorf("shard %d: %s gives %d series (%v), want none: %v", i, q, len(r), err, r)
			}
		}
		r, err := s.query(`count by (account) ({job="sunor",account!=""})`)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range r {
			if a := x.Metric["account"]; owner[a] != i {
				t.Errorf("shard %d has series of account %q, which shard %d scrapes", i, a, owner[a])
			}
		}
	}
}

// waitReady polls url until it answers 200, for at most 30 s.
func waitReady(t *testing.T, what, url string) {
	t.Helper()
	poll(t, what+" is ready", 30*time.Second, func() error {
		code, _, err := testtool.Request(context.Background(), http.MethodGet, url, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		return err
	})
}

// lowSuppressed waits until Alertmanager holds SunorCreditsLow of the e2e
// account, from the /metrics server and from its shard, as suppressed by
// an inhibition.
func lowSuppressed(t *testing.T, amAddr, what string) {
	t.Helper()
	poll(t, what, 30*time.Second, func() error {
		resp, err := http.Get("http://" + amAddr + "/api/v2/alerts?filter=" + url.QueryEscape(`alertname="SunorCreditsLow"`) + "&filter=" + url.QueryEscape(`account="e2e"`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State       string   `json:"state"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
			return err
		}
		if len(alerts) != 2 {
			return fmt.Errorf("SunorCreditsLow in Alertmanager: %+v, want 2 (/metrics server and shard)", alerts)
		}
		for _, a := range alerts {
			if a.Status.State != "suppressed" || len(a.Status.InhibitedBy) == 0 {
				return fmt.Errorf("SunorCreditsLow in Alertmanager: %+v, want suppressed", alerts)
			}
		}
		return nil
	})
}
