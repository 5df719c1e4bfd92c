package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// The debug probe, /probe?account=NAME&debug=true, as blackbox_exporter's:
// a person asking "why no call, why this number" gets the probe's decision
// log, the series it returned and the account's effective settings, in
// text. It is a normal probe: the key's budget and the guard's rules are
// the same, and the decision log is collected along the probe's own path
// (probeTrace in its context).

// withTrace returns ctx carrying a decision log for one debug probe.
func withTrace(ctx context.Context) (context.Context, *probeTrace) {
	t := &probeTrace{decisions: map[string][]*Decision{}}
	return context.WithValue(ctx, traceKey{}, t), t
}

// serveDebug runs the probe c of account name and writes its report.
func serveDebug(w http.ResponseWriter, e *Exporter, name string, c prometheus.Collector, t *probeTrace, writeBy time.Time) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c) // an unchecked collector: it describes nothing that could clash
	mfs, err := reg.Gather()
	var series bytes.Buffer
	enc := expfmt.NewEncoder(&series, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err == nil {
			err = enc.Encode(mf)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Debug probe of account %s at %s (times in UTC)\n\n", strconv.Quote(name), e.opts.Now().UTC().Format(time.RFC3339))
	b.WriteString("Decision log:\n")
	writeDecisions(&b, t)
	b.WriteString("\nSeries this probe returned:\n")
	if err != nil {
		fmt.Fprintf(&b, "error: %s\n", strconv.Quote(err.Error()))
	}
	b.Write(series.Bytes())
	b.WriteString("\nEffective settings (after defaults):\n")
	if a, k := e.lookup(name); a != nil {
		writeSettings(&b, a, k)
	}
	setWriteDeadline(w, writeBy)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

func writeDecisions(b *bytes.Buffer, t *probeTrace) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ep := range t.endpoints {
		for _, d := range t.decisions[ep] {
			fmt.Fprintf(b, "  %s: guard: %s: %s", ep, d.What, d.Why)
			if !d.Until.IsZero() {
				fmt.Fprintf(b, "; calls may resume at %s", d.Until.UTC().Format(time.TimeOnly))
			}
			b.WriteString("\n")
		}
		r := t.results[i]
		switch {
		case r.call != nil:
			fmt.Fprintf(b, "  %s: %s\n", ep, DescribeCall(r.call))
		case r.ok:
			fmt.Fprintf(b, "  %s: no call: the last good answer is shown\n", ep)
		case r.err != nil:
			fmt.Fprintf(b, "  %s: no answer: %s\n", ep, strconv.Quote(r.err.Error()))
		}
		var se errSkipped
		if errors.As(r.err, &se) {
			fmt.Fprintf(b, "  %s: sunor_api_up 0 until calls resume at %s\n", ep, se.until.UTC().Format(time.TimeOnly))
		}
	}
}

// DescribeCall says in one line what a call did: method, path, status,
// duration, X-RateLimit-Remaining, Retry-After and what decoding made of
// the body. Strings from the API are quoted (they are redacted and cut
// already): a control character in them cannot start a line of its own.
func DescribeCall(c *Call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s -> ", c.Method, strconv.Quote(c.Path))
	if c.Status == 0 {
		b.WriteString("no answer")
	} else {
		fmt.Fprintf(&b, "HTTP %d", c.Status)
	}
	fmt.Fprintf(&b, " in %s", RoundDuration(c.Duration))
	if c.HasRemaining {
		fmt.Fprintf(&b, "; X-RateLimit-Remaining %g", c.Remaining)
	}
	if c.RetryAfter > 0 {
		fmt.Fprintf(&b, "; Retry-After %s", c.RetryAfter)
	}
	if c.Reason != "" {
		fmt.Fprintf(&b, "; failed: %s: %s", c.Reason, strconv.Quote(c.Message))
	} else {
		b.WriteString("; decoded:")
		for i, f := range c.Fields {
			if i < len(c.Values) {
				fmt.Fprintf(&b, " %s=%g", f, c.Values[i])
			}
		}
	}
	fmt.Fprintf(&b, " (%s)", c.Guard())
	return b.String()
}

// writeSettings writes a's effective settings, after defaults: never the
// key, only where it comes from (k).
func writeSettings(b *bytes.Buffer, a *account, k keySource) {
	p, t, perKey := a.policy.Load(), a.timing.Load(), a.budget.Load()
	ceiling := "none"
	if perKey.perMinute > 0 {
		ceiling = strconv.Itoa(perKey.perMinute) + " calls a minute, shared by every account of the key"
	}
	budget := "none"
	if p.budget > 0 {
		budget = strconv.FormatFloat(p.budget, 'g', -1, 64) + " credits a day"
	}
	fmt.Fprintf(b, "  url: %s\n  timeout: %s\n  max_calls_per_minute: %s\n  rate_limit_reserve: %d\n  cache_ttl: %s\n  low_credits_threshold: %g\n  daily_budget: %s\n",
		strconv.Quote(a.url), t.timeout, ceiling, perKey.reserve, t.cacheTTL, p.threshold, budget)
	if p.taskCost > 0 {
		fmt.Fprintf(b, "  task_cost: %g credits\n", p.taskCost)
	}
	b.WriteString("  labels:")
	if len(p.owner) == 0 {
		b.WriteString(" none")
	}
	for _, lp := range p.owner { // sorted by name
		fmt.Fprintf(b, " %s=%s", lp.GetName(), strconv.Quote(lp.GetValue()))
	}
	src := "the account's own client (tests)"
	switch {
	case k.file != "":
		src = "key file " + k.file
	case k.env != "":
		src = "environment variable " + k.env
	}
	fmt.Fprintf(b, "\n  key: from %s (never shown)\n", strconv.Quote(src))
}

// RoundDuration keeps two or three digits of a call's duration: the debug
// probe and the status page show durations alike.
func RoundDuration(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
