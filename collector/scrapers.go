package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

const namespace = "sunor"

// A Scraper is one API endpoint and the series its answer becomes, as a
// collector is in node_exporter and a scraper in mysqld_exporter. Every
// scrape of an account walks its list of scrapers. Adding an endpoint is
// a sunor.Endpoint, a Scraper here (in Optional, for a --collector.<name>
// flag), and its answer in the fake API.
type Scraper struct {
	Endpoint sunor.Endpoint
	// Series holds one series per value of Endpoint.Fields, in order.
	Series []Series
	// Help and Default describe the --[no-]collector.<name> flag of an
	// optional scraper.
	Help    string
	Default bool
}

// Series is the metric one answer field becomes.
type Series struct {
	Desc *prometheus.Desc
	Type prometheus.ValueType
}

// Name is the endpoint's name: the `endpoint` and `collector` label value.
func (s Scraper) Name() string { return s.Endpoint.Name }

// fromLastAnswer ends the HELP of every series that comes from an answer:
// with a cache, the budget guard or a refresh queued behind the cap on
// calls, that answer may be older than the scrape, and a dashboard reader
// cannot see the flags.
var fromLastAnswer = " From the latest good answer, which may be up to " + humanize(MaxStale) + " old (or --sunor.cache-ttl) when this scrape made no call of its own; sunor_last_success_timestamp_seconds tells its age. Absent when there is no such answer."

// answerSeries is a series from an answer's field: the account's, with
// the HELP saying how old the answer may be.
func answerSeries(name, help string, typ prometheus.ValueType) Series {
	return Series{accountDesc(name, help+fromLastAnswer), typ}
}

// accountDesc is the descriptor of a series of an account: its name, its
// HELP, the account label every series has and labels of its own; each
// account's owner labels are added to every series of the account in
// series.go.
func accountDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, append([]string{"account"}, labels...), nil)
}

// Balance is always on: sunor_api_up and the last-success time are its.
var Balance = Scraper{Endpoint: sunor.Balance, Series: []Series{
	answerSeries("credits_available", "Credits available to spend (1 credit = 0.01 USD).", prometheus.GaugeValue),
	answerSeries("credits_frozen", "Credits frozen by running tasks, to be deducted or refunded when they end.", prometheus.GaugeValue),
	answerSeries("credits_total", "Credits available plus frozen. A gauge: the _total suffix, which Prometheus reserves for counters, is kept because users asked for this name.", prometheus.GaugeValue),
}}

// Usage is the lifetime spend counters.
var Usage = Scraper{
	Endpoint: sunor.Usage,
	Help:     "Also call GET /api/v1/account/usage for the spend counters (one more API call per scrape and account).",
	Default:  true,
	Series: []Series{
		answerSeries("tasks_created_total", "Generation tasks created over the account's lifetime (usage endpoint).", prometheus.CounterValue),
		answerSeries("credits_used_total", "Credits spent over the account's lifetime (usage endpoint).", prometheus.CounterValue),
		answerSeries("credits_topped_up_total", "Credits added over the account's lifetime (usage endpoint).", prometheus.CounterValue),
	},
}

// Optional lists the scrapers that a --[no-]collector.<name> flag switches.
var Optional = []Scraper{Usage}

// The series every account has, whatever its scrapers.
var (
	upDesc                 = accountDesc("api_up", "1 if this scrape has a good balance answer: a call that succeeded, or an answer reused without a call (cache, budget guard) or while the account's refresh waits in the queue (--sunor.max-concurrent-calls), else 0.")
	lastSuccessDesc        = accountDesc("last_success_timestamp_seconds", "Unix time of the last successful balance call. Absent before the first success.")
	requestDurationDesc    = accountDesc("api_request_duration_seconds", "How long the API call behind this scrape took. Absent when no call was made (cache, budget guard, back-off).", "endpoint")
	collectorSuccessDesc   = accountDesc("scrape_collector_success", "1 if the collector (API endpoint) has a good answer in this scrape, fresh or reused, else 0.", "collector")
	collectorDurationDesc  = accountDesc("scrape_collector_duration_seconds", "How long the collector took in this scrape, waiting included.", "collector")
	rateLimitLimitDesc     = accountDesc("rate_limit_limit", "X-RateLimit-Limit of the latest API response in this scrape: requests allowed per window for this key. Absent when no response in this scrape carried it.")
	rateLimitRemainingDesc = accountDesc("rate_limit_remaining", "X-RateLimit-Remaining of the latest API response in this scrape: requests left in the window, shared with all traffic of this key.")
	rateLimitResetDesc     = accountDesc("rate_limit_reset_timestamp_seconds", "X-RateLimit-Reset of the latest API response in this scrape, as a Unix time.")
	errorsDesc             = accountDesc("api_errors_total", "Failed Sunor API calls by endpoint and reason. A call shared by concurrent scrapes counts once.", "endpoint", "reason")
	requestsDesc           = accountDesc("api_requests_total", "API calls the exporter made with this account's key, successful or not. rate(...[5m]) * 60 is the exporter's share of the key's requests per minute.", "endpoint")
	skippedDesc            = accountDesc("api_calls_skipped_total", "Scrapes answered without an API call, by reason: cache (--sunor.cache-ttl), backoff (a 429's Retry-After), reserve (X-RateLimit-Remaining at or below --sunor.rate-limit-reserve), budget (--sunor.max-calls-per-minute).", "endpoint", "reason")
)

// The account's policy, from its configuration rather than the API: there
// on every scrape, whatever the API answers.
var (
	lowThresholdDesc = accountDesc("credits_low_threshold", "Credits available (sunor_credits_available) under which this account counts as low, in credits: its low_credits_threshold from the accounts file (the account's own, or defaults:), else --sunor.low-credits-threshold.")
	taskCostDesc     = accountDesc("credits_task_cost", "Credits one task of this account costs: the API refuses work (HTTP 402) while sunor_credits_available is below it. Its task_cost from the accounts file (the account's own, or defaults:), else --sunor.task-cost (10, a music clip).")
	dailyBudgetDesc  = accountDesc("credits_daily_budget", "Credits per day this account may spend: its daily_budget from the accounts file (the account's own, or defaults:), else --sunor.daily-budget. Absent when the account has no budget.")
)

// counterReasons are the reason labels of an endpoint's error counters
// (sunor.Reasons), then of its skip counters (skipReasons).
var counterReasons = func() []string {
	var out []string
	for _, r := range sunor.Reasons {
		out = append(out, string(r))
	}
	return append(out, skipReasons...)
}()
