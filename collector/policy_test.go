package collector

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// answeringAPI answers every call at once with non-zero values and every
// rate-limit header, so that a scrape has every series there is.
type answeringAPI struct{}

func (answeringAPI) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	v := make([]float64, len(ep.Fields))
	for i := range v {
		v[i] = float64(100 * (i + 1))
	}
	return v, sunor.RateLimit{Limit: 120, Remaining: 90, Reset: time.Unix(1_800_000_060, 0), HasLimit: true, HasRemaining: true, HasReset: true}, nil
}

// The labels a series has of its own; every other label is an owner label.
var ownLabels = []string{"account", "endpoint", "collector", "reason", "le"}

// Every family an account has after a good scrape with the usage
// collector, but the daily budget.
var accountFamilies = []string{
	"sunor_api_up", "sunor_credits_available", "sunor_credits_frozen", "sunor_credits_total",
	"sunor_last_success_timestamp_seconds", "sunor_api_request_duration_seconds",
	"sunor_scrape_collector_success", "sunor_scrape_collector_duration_seconds",
	"sunor_rate_limit_limit", "sunor_rate_limit_remaining", "sunor_rate_limit_reset_timestamp_seconds",
	"sunor_api_errors_total", "sunor_api_requests_total", "sunor_api_calls_skipped_total",
	"sunor_tasks_created_total", "sunor_credits_used_total", "sunor_credits_topped_up_total",
	"sunor_credits_low_threshold", "sunor_credits_task_cost", "sunor_api_call_duration_seconds",
}

// twoTeams are two accounts of two teams with different label sets: music
// has a budget, video none.
func twoTeams() []accounts.Account {
	return []accounts.Account{
		{Account: config.Account{Name: "music-prod", Timeout: time.Second, Labels: map[string]string{"team": "music", "env": "prod"}, LowCreditsThreshold: 2000, DailyBudget: 5000, TaskCost: 10}, Identity: "k1", API: answeringAPI{}},
		{Account: config.Account{Name: "video", Timeout: time.Second, Labels: map[string]string{"team": "video"}, LowCreditsThreshold: 500, TaskCost: 5}, Identity: "k2", API: answeringAPI{}},
	}
}

// fetchExposition serves one request to h and returns the body.
func fetchExposition(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// parseExposition parses a text exposition into samples, by family name.
func parseExposition(t *testing.T, body string) map[string]model.Vector {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	out := map[string]model.Vector{}
	for name, mf := range mfs {
		v, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mf)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

// checkOwnerLabels checks that every sunor_* series of the exposition
// belongs to one of accts and carries exactly its owner labels (a label it
// lacks is absent, not empty), and that each account has exactly the
// families want says.
func checkOwnerLabels(t *testing.T, body string, accts []accounts.Account, want map[string][]string) {
	t.Helper()
	byName := map[string]accounts.Account{}
	for _, a := range accts {
		byName[a.Name] = a
	}
	have := map[string]map[string]bool{} // account -> families
	for name, samples := range parseExposition(t, body) {
		if !strings.HasPrefix(name, "sunor_") {
			continue
		}
		for _, s := range samples {
			account := string(s.Metric["account"])
			a, ok := byName[account]
			if !ok {
				t.Errorf("%s: series of no configured account", s.Metric)
				continue
			}
			owner := map[string]string{}
			for k, v := range s.Metric {
				if k != model.MetricNameLabel && !slices.Contains(ownLabels, string(k)) {
					owner[string(k)] = string(v)
				}
			}
			if !maps.Equal(owner, a.Labels) {
				t.Errorf("%s: owner labels %v, want %v", s.Metric, owner, a.Labels)
			}
			if have[account] == nil {
				have[account] = map[string]bool{}
			}
			have[account][name] = true
		}
	}
	for account, families := range want {
		got := slices.Sorted(maps.Keys(have[account]))
		if w := slices.Sorted(slices.Values(families)); !slices.Equal(got, w) {
			t.Errorf("account %s has the families\n%v\nwant\n%v", account, got, w)
		}
	}
}

func familiesWith(extra ...string) []string {
	return append(slices.Clone(accountFamilies), extra...)
}

// TestOwnerLabelsOnEverySeries: two accounts of two teams with different
// label sets, in one /metrics scrape and in a /probe of each: every series
// carries its account's labels and only those, the budget only where there
// is one, and the exposition is valid.
func TestOwnerLabelsOnEverySeries(t *testing.T) {
	accts := twoTeams()
	exp := New(accts, Options{Scrapers: []Scraper{Usage}})

	body := fetchExposition(t, MetricsHandler(exp, HandlerOpts{}), "/metrics")
	checkOwnerLabels(t, body, accts, map[string][]string{
		"music-prod": familiesWith("sunor_credits_daily_budget"),
		"video":      familiesWith(),
	})
	checkPromtool(t, body)

	probe := ProbeHandler(exp, HandlerOpts{})
	for _, a := range accts {
		body := fetchExposition(t, probe, "/probe?account="+a.Name)
		want := map[string][]string{a.Name: familiesWith()}
		if a.DailyBudget > 0 {
			want[a.Name] = familiesWith("sunor_credits_daily_budget")
		}
		checkOwnerLabels(t, body, []accounts.Account{a}, want)
	}
}

// TestPolicyGauges: the threshold and the budget, with their values, on a
// failing scrape too: they come from the configuration, not the API.
func TestPolicyGauges(t *testing.T) {
	accts := twoTeams()
	accts[1].API = &failingAPI{}
	exp := New(accts, Options{})
	m := parseExposition(t, fetchExposition(t, MetricsHandler(exp, HandlerOpts{}), "/metrics"))
	for _, tc := range []struct {
		name, account string
		want          float64
		present       bool
	}{
		{"sunor_credits_low_threshold", "music-prod", 2000, true},
		{"sunor_credits_daily_budget", "music-prod", 5000, true},
		{"sunor_credits_low_threshold", "video", 500, true},
		{"sunor_credits_daily_budget", "video", 0, false},
		{"sunor_credits_task_cost", "music-prod", 10, true},
		{"sunor_credits_task_cost", "video", 5, true},
		{"sunor_api_up", "video", 0, true},
	} {
		v, ok := sampleOf(m, tc.name, tc.account)
		if ok != tc.present || v != tc.want {
			t.Errorf("%s{account=%q} = %v (present %v), want %v (present %v)", tc.name, tc.account, v, ok, tc.want, tc.present)
		}
	}
}

// failingAPI answers every call with a server error.
type failingAPI struct{}

func (failingAPI) Fetch(_ context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonServerError, StatusCode: 500, Message: "down"}
}

// sampleOf returns the value of the series name of account whose labels
// include the name, value pairs of more.
func sampleOf(m map[string]model.Vector, name, account string, more ...string) (float64, bool) {
next:
	for _, s := range m[name] {
		if string(s.Metric["account"]) != account {
			continue
		}
		for i := 0; i+1 < len(more); i += 2 {
			if string(s.Metric[model.LabelName(more[i])]) != more[i+1] {
				continue next
			}
		}
		return float64(s.Value), true
	}
	return 0, false
}

// TestPolicyHelpAndLint: the new gauges' HELP says the unit and where the
// value comes from, and the series pass client_golang's lint.
func TestPolicyHelpAndLint(t *testing.T) {
	exp := New(twoTeams(), Options{Scrapers: []Scraper{Usage}})
	problems, err := testutil.CollectAndLint(exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if p.Metric == "sunor_credits_total" && strings.Contains(p.Text, "_total") {
			continue // the name users asked for
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs := gather(t, exp)
	for name, words := range map[string][]string{
		"sunor_credits_low_threshold": {"credits", "low_credits_threshold", "accounts file", "--sunor.low-credits-threshold"},
		"sunor_credits_daily_budget":  {"Credits per day", "daily_budget", "accounts file", "--sunor.daily-budget"},
		"sunor_credits_task_cost":     {"Credits one task", "402", "sunor_credits_available", "task_cost", "accounts file", "--sunor.task-cost"},
	} {
		mf := mfs[name]
		if mf == nil || mf.GetType().String() != "GAUGE" {
			t.Fatalf("%s: %v, want a gauge", name, mf)
		}
		for _, w := range words {
			if !strings.Contains(mf.GetHelp(), w) {
				t.Errorf("%s HELP %q does not say %q", name, mf.GetHelp(), w)
			}
		}
	}
}

// TestSDOwnerLabels: /sd gives each account's labels as
// __meta_sunor_account_label_<name>, and only its own.
func TestSDOwnerLabels(t *testing.T) {
	exp := New(twoTeams(), Options{})
	got := sdGroups(t, exp)
	want := map[string]map[string]string{
		"music-prod": {"__meta_sunor_account": "music-prod", "__meta_sunor_account_label_team": "music", "__meta_sunor_account_label_env": "prod"},
		"video":      {"__meta_sunor_account": "video", "__meta_sunor_account_label_team": "video"},
	}
	if len(got) != len(want) {
		t.Fatalf("/sd: %v, want %v", got, want)
	}
	for target, labels := range want {
		if !maps.Equal(got[target], labels) {
			t.Errorf("/sd target %s: labels %v, want %v", target, got[target], labels)
		}
	}
}

// sdGroups returns /sd's labels by target.
func sdGroups(t *testing.T, exp *Exporter) map[string]map[string]string {
	t.Helper()
	var groups []struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(fetchExposition(t, SDHandler(exp), "/sd")), &groups); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, g := range groups {
		if len(g.Targets) != 1 {
			t.Fatalf("/sd group %+v: want one target", g)
		}
		out[g.Targets[0]] = g.Labels
	}
	return out
}

// TestPolicyChangeKeepsState: a reload that changes only an account's
// labels, threshold and budget applies them to every series and to /sd, and
// the account keeps its state: its counters go on.
func TestPolicyChangeKeepsState(t *testing.T) {
	accts := twoTeams()
	exp := New(accts, Options{Scrapers: []Scraper{Usage}})
	h := MetricsHandler(exp, HandlerOpts{})
	fetchExposition(t, h, "/metrics")

	accts[0].Labels = map[string]string{"team": "audio"} // env gone, team changed
	accts[0].LowCreditsThreshold, accts[0].DailyBudget, accts[0].TaskCost = 800, 0, 1
	accts[1].Labels = map[string]string{"team": "video", "tier": "gold"}
	accts[1].DailyBudget = 100
	exp.SetAccounts(accts)

	body := fetchExposition(t, h, "/metrics")
	checkOwnerLabels(t, body, accts, map[string][]string{
		"music-prod": familiesWith(),
		"video":      familiesWith("sunor_credits_daily_budget"),
	})
	m := parseExposition(t, body)
	if v, _ := sampleOf(m, "sunor_credits_low_threshold", "music-prod"); v != 800 {
		t.Errorf("threshold of music-prod = %v after the reload, want 800", v)
	}
	if v, _ := sampleOf(m, "sunor_credits_task_cost", "music-prod"); v != 1 {
		t.Errorf("task cost of music-prod = %v after the reload, want 1", v)
	}
	if v, _ := sampleOf(m, "sunor_credits_daily_budget", "video"); v != 100 {
		t.Errorf("budget of video = %v after the reload, want 100", v)
	}
	if v, _ := sampleOf(m, "sunor_api_requests_total", "music-prod", "endpoint", "balance"); v != 2 {
		t.Errorf("sunor_api_requests_total of music-prod = %v, want 2: the account lost its state", v)
	}
	sd := sdGroups(t, exp)
	if want := map[string]string{"__meta_sunor_account": "music-prod", "__meta_sunor_account_label_team": "audio"}; !maps.Equal(sd["music-prod"], want) {
		t.Errorf("/sd after the reload: %v, want %v", sd["music-prod"], want)
	}
	// A labels map the caller changes afterwards changes nothing.
	accts[1].Labels["tier"] = "bronze"
	if v := sdGroups(t, exp)["video"]["__meta_sunor_account_label_tier"]; v != "gold" {
		t.Errorf("tier = %q after the caller changed its map, want gold", v)
	}
}

// TestPolicyChangeDuringScrapes: reloads that change the labels while
// scrapes run give every scrape a valid exposition (run with -race).
func TestPolicyChangeDuringScrapes(t *testing.T) {
	exp := New(twoTeams(), Options{})
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if _, err := collectOnce(exp.WithContext(context.Background())); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		next := twoTeams()
		next[0].Labels = map[string]string{"team": "music", "run": strings.Repeat("x", i%3+1)}
		next[1].DailyBudget = float64(i % 2)
		exp.SetAccounts(next)
	}
}

// TestOwnerLabelNamedLikeASeriesLabel: an owner label with the name of a
// series' own label (which the configuration refuses) does not break the
// scrape: the series keeps its own.
func TestOwnerLabelNamedLikeASeriesLabel(t *testing.T) {
	exp := New([]accounts.Account{{Account: config.Account{Name: "prod", Timeout: time.Second, Labels: map[string]string{"reason": "x", "endpoint": "y", "account": "z", "team": "t"}}, API: answeringAPI{}}}, Options{})
	m := parseExposition(t, fetchExposition(t, MetricsHandler(exp, HandlerOpts{}), "/metrics"))
	for _, tc := range []struct {
		name   string
		labels model.LabelSet
	}{
		{"sunor_api_up", model.LabelSet{"account": "prod", "endpoint": "y", "reason": "x", "team": "t"}},
		{"sunor_api_errors_total", model.LabelSet{"account": "prod", "endpoint": "balance", "reason": "timeout", "team": "t"}},
	} {
		found := false
		for _, s := range m[tc.name] {
			ls := model.LabelSet(s.Metric).Clone()
			delete(ls, model.MetricNameLabel)
			found = found || ls.Equal(tc.labels)
		}
		if !found {
			t.Errorf("no %s%v in %v", tc.name, tc.labels, m[tc.name])
		}
	}
}

// checkPromtool runs `promtool check metrics` on an exposition, as the
// root package's tests do; only the lint of sunor_credits_total (the name
// users asked for) is waived.
func checkPromtool(t *testing.T, body string) {
	t.Helper()
	cmd := exec.Command(testtool.Path(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	code, out := testtool.Run(t, cmd, 30*time.Second)
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "sunor_credits_total ") {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		t.Errorf("promtool check metrics: exit status %d\n%s", code, strings.Join(problems, "\n"))
	}
}
