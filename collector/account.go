package collector

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// account is the live state of one accounts.Account: its series (policy,
// emit) and its endpoints, each of which makes its calls (endpoint.go)
// with what the account's caller holds (caller.go).
type account struct {
	caller
	budget atomic.Pointer[budget]

	endpoints []*endpointState // in the order of the exporter's scrapers
	policy    atomic.Pointer[policy]
}

func newAccount(cfg accounts.Account, g *guard, scrapers []Scraper, calls *pool, now func() time.Time, logger log.Logger) *account {
	a := &account{caller: caller{
		name:     cfg.Name,
		identity: cfg.Identity,
		url:      cfg.URL,
		api:      cfg.API,
		keys:     cfg.Keys,
		calls:    calls,
		now:      now,
		logger:   log.With(logger, "account", cfg.Name),
	}}
	a.guard.Store(g)
	a.endpoints = make([]*endpointState, len(scrapers))
	for i := range scrapers {
		a.endpoints[i] = newEndpointState(&a.caller, &scrapers[i])
	}
	a.setTiming(cfg)
	a.setPolicy(cfg)
	a.setBudget(cfg)
	return a
}

// setPolicy applies cfg's owner labels, threshold and budget; the account's
// state (cache, budget guard, counters) stays.
func (a *account) setPolicy(cfg accounts.Account) {
	if p := a.policy.Load(); p != nil && p.same(cfg) {
		return
	}
	scrapers := make([]*Scraper, len(a.endpoints))
	for i, st := range a.endpoints {
		scrapers[i] = st.scraper
	}
	a.policy.Store(newPolicy(cfg, scrapers))
}

// budget is what the account asks of its key's guard; the guard takes the
// lowest ceiling and the highest reserve of the accounts that use it.
type budget struct{ perMinute, reserve int }

func (a *account) setBudget(cfg accounts.Account) {
	a.budget.Store(&budget{perMinute: cfg.MaxCallsPerMinute, reserve: cfg.RateLimitReserve})
}

// balanceAt is when the balance last answered; zero if never.
func (a *account) balanceAt() time.Time {
	st := a.endpoints[0] // Balance always comes first
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lastAt
}

// collect sends this account's series for one scrape, once the answers
// begun by ask are in.
func (a *account) collect(ctx context.Context, asks []ask, ch chan<- prometheus.Metric) {
	results, took := a.answers(ctx, asks)
	if t := traceOf(ctx); t != nil { // a debug probe
		names := make([]string, len(a.endpoints))
		for i, st := range a.endpoints {
			names[i] = st.scraper.Name()
		}
		t.answered(results, names)
	}

	a.emit(ch, results, took)
}

// emit sends this account's series for one scrape: results and took are
// what each endpoint gave in this scrape and how long it took.
func (a *account) emit(ch chan<- prometheus.Metric, results []result, took []time.Duration) {
	p := a.policy.Load()
	out := make([]sample, 0, p.size) // one allocation for the account's series
	hists := make([]histogramSample, len(a.endpoints))
	// The error and skip counters, two sets an endpoint: a series each
	// only when encoded (counterSet).
	sets := make([]counterSet, 0, 2*len(a.endpoints))
	counts := make([]float64, len(a.endpoints)*len(counterReasons))
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []*dto.LabelPair) {
		out = append(out, sample{desc: d, labels: labels, typ: t, value: v})
	}

	var latest *sunor.RateLimit
	for i, st := range a.endpoints {
		r, el := results[i], p.endpoints[i]
		if r.ok {
			for j, s := range st.scraper.Series {
				add(s.Desc, s.Type, r.values[j], p.account)
			}
		}
		if i == 0 { // the balance: sunor_api_up is its alone
			add(upDesc, prometheus.GaugeValue, boolValue(r.ok), p.account)
			if at := a.balanceAt(); !at.IsZero() {
				add(lastSuccessDesc, prometheus.GaugeValue, float64(at.UnixNano())/1e9, p.account)
			}
		}
		add(collectorSuccessDesc, prometheus.GaugeValue, boolValue(r.ok), el.collector)
		add(collectorDurationDesc, prometheus.GaugeValue, took[i].Seconds(), el.collector)
		if r.called {
			add(requestDurationDesc, prometheus.GaugeValue, r.duration.Seconds(), el.endpoint)
			if latest == nil || newerRateLimit(r.rl, *latest) {
				latest = &r.rl
			}
		}
		if errors.Is(r.err, errGaveUp) {
			a.debug("No answer in this scrape", "endpoint", st.scraper.Name(), "err", r.err)
		}
		add(requestsDesc, prometheus.CounterValue, float64(st.requests.Load()), el.endpoint)
		hists[i] = histogramSample{desc: callDurationDesc, labels: el.endpoint, counts: st.latency.snapshot()}
		values := counts[i*len(counterReasons) : (i+1)*len(counterReasons)]
		for k := range st.counts {
			values[k] = float64(st.counts[k].Load())
		}
		n := len(sunor.Reasons)
		sets = append(sets,
			counterSet{desc: errorsDesc, labels: el.reasons[:n*el.stride], stride: el.stride, values: values[:n:n]},
			counterSet{desc: skippedDesc, labels: el.reasons[n*el.stride:], stride: el.stride, values: values[n:]})
	}

	// The X-RateLimit-* headers of the latest answer in this scrape; a
	// header it did not carry is no series.
	if latest != nil && latest.HasLimit {
		add(rateLimitLimitDesc, prometheus.GaugeValue, latest.Limit, p.account)
	}
	if latest != nil && latest.HasRemaining {
		add(rateLimitRemainingDesc, prometheus.GaugeValue, latest.Remaining, p.account)
	}
	if latest != nil && latest.HasReset {
		add(rateLimitResetDesc, prometheus.GaugeValue, float64(latest.Reset.UnixNano())/1e9, p.account)
	}

	// The account's policy, from its configuration: there whatever the API
	// answered.
	add(lowThresholdDesc, prometheus.GaugeValue, p.threshold, p.account)
	if p.taskCost > 0 { // 0 only where an account was built without the configuration
		add(taskCostDesc, prometheus.GaugeValue, p.taskCost, p.account)
	}
	if p.budget > 0 {
		add(dailyBudgetDesc, prometheus.GaugeValue, p.budget, p.account)
	}

	for i := range out {
		ch <- &out[i]
	}
	for i := range hists {
		ch <- &hists[i]
	}
	for i := range sets {
		ch <- &sets[i]
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newerRateLimit reports whether x is a later state of the key's budget than
// y. The endpoints are called at the same time, so which answer arrived
// last says nothing about which the API counted last; the API's own
// counters do: a later window first, then fewer requests remaining.
func newerRateLimit(x, y sunor.RateLimit) bool {
	if x.HasReset && y.HasReset && !x.Reset.Equal(y.Reset) {
		return x.Reset.After(y.Reset)
	}
	if x.HasRemaining != y.HasRemaining {
		return x.HasRemaining
	}
	return x.Remaining < y.Remaining
}

// ask starts this account's part of a scrape without waiting: each
// endpoint's answer from the cache or the last good answer, or the call
// it will wait for. A scrape asks every account before it waits for any,
// so that every account's call is queued or running at once.
func (a *account) ask(ctx context.Context) []ask {
	now, timeout := time.Now(), a.timeout() // the real clock: deadlines are real
	deadline := now.Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	// The least a call started now is given: see minCallTime.
	least := now.Add(min(minCallTime, timeout))
	// A call reads the key it sends, and so follows a rotated key, only
	// when it runs; a key paused by a 429 or the reserve makes no call for
	// up to MaxBackoff. Its account reads its key again here, outside any
	// endpoint's lock, so that a key rotated away from the paused one (the
	// user's way out of a 429) is called at this scrape, not after the
	// pause of a key it no longer sends.
	if a.keys != nil && a.guard.Load().paused(a.now()) {
		a.keyGuard()
	}
	asks := make([]ask, len(a.endpoints))
	for i, st := range a.endpoints {
		asks[i] = ask{st: st, began: time.Now(), deadline: deadline}
		asks[i].r, asks[i].f = st.begin(ctx, deadline, least)
	}
	return asks
}

// answers waits for the calls of asks, each until its deadline, and
// returns every endpoint's result and how long it took.
func (a *account) answers(ctx context.Context, asks []ask) ([]result, []time.Duration) {
	results := make([]result, len(asks))
	took := make([]time.Duration, len(asks))
	for i, q := range asks {
		results[i] = q.r
		if q.f != nil {
			results[i] = q.st.wait(ctx, q.f, q.deadline)
		}
		took[i] = time.Since(q.began)
	}
	return results, took
}
