package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// TestUsageMissingIsSwitchedOff: an API without the usage endpoint (404,
// 405 or 501) costs one usage call an hour and one warning naming the
// path, whatever the scrapes; the balance is called on every scrape and
// untouched; usage shows collector success 0. Once the endpoint answers
// again, the next hourly try switches it back on.
func TestUsageMissingIsSwitchedOff(t *testing.T) {
	for _, mode := range []string{fakesunor.FailNotFound, fakesunor.FailMethodNotAllowed, fakesunor.FailNotImplemented} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, withUsage())
			e.fake.RateLimit = 0 // hours of scrapes in a moment of real time: no reserve pause
			e.fake.Update(testKey, func(a *fakesunor.Account) { a.FailUsage = mode })
			// Three hours and a half of scrapes every 15 s.
			scrapes := 0
			for ; scrapes < 14*60; scrapes++ {
				mfs := e.scrape()
				if up := mustValue(t, mfs, "sunor_api_up", nil); up != 1 {
					t.Fatalf("scrape %d: sunor_api_up %v, want 1: the balance is untouched", scrapes, up)
				}
				if v := mustValue(t, mfs, "sunor_scrape_collector_success", map[string]string{"collector": "usage"}); v != 0 {
					t.Fatalf("scrape %d: usage collector success %v, want 0", scrapes, v)
				}
				if _, ok := mfs["sunor_credits_used_total"]; ok {
					t.Fatalf("scrape %d: usage series present without a usage endpoint", scrapes)
				}
				e.clock.Advance(15 * time.Second)
			}
			// At 0, 1 h, 2 h and 3 h.
			if u, b := e.fake.Requests("usage"), e.fake.Requests("balance"); u != 4 || b != scrapes {
				t.Errorf("%d usage and %d balance calls in 3.5 hours of %d scrapes; want 4 (one an hour) and %d", u, b, scrapes, scrapes)
			}
			mfs := e.scrape()
			var failed float64
			for _, reason := range []string{"http_status", "server_error"} {
				failed += errorsFor(mfs, "usage", reason)
			}
			if failed != 4 {
				t.Errorf("usage errors counted %v, want 4: one per call, not per scrape", failed)
			}
			warned := logLines(e.log.String(), "is switched off")
			if len(logLines(e.log.String(), "level=warn")) != 1 || len(logLines(e.log.String(), "level=error")) != 0 ||
				len(warned) != 1 || !strings.Contains(warned[0], "path=/api/v1/account/usage") {
				t.Errorf("log:\n%s\nwant one warning naming the path, and no other line at warn or error", e.log.String())
			}

			// The API gains the endpoint: the next hourly try finds it.
			e.fake.Update(testKey, func(a *fakesunor.Account) { a.FailUsage = "" })
			e.clock.Advance(30 * time.Minute)
			if _, ok := e.scrape()["sunor_credits_used_total"]; !ok {
				t.Error("usage still off an hour after the last try, though the endpoint answers")
			}
			mfs = e.scrape()
			if v := mustValue(t, mfs, "sunor_scrape_collector_success", map[string]string{"collector": "usage"}); v != 1 {
				t.Errorf("usage collector success %v once the endpoint answers, want 1", v)
			}
			if len(logLines(e.log.String(), "has this endpoint again")) != 1 {
				t.Errorf("log:\n%s\nwant one line saying usage is back", e.log.String())
			}
		})
	}
}

// TestUsageMissingPerKey: the accounts of one key share the finding: one
// usage call an hour for the key, not one per account, and one warning;
// an account of another key keeps calling its own usage endpoint.
func TestUsageMissingPerKey(t *testing.T) {
	fake := fakesunor.New("")
	fake.NoUsage = true
	fake.RateLimit = 0 // an hour of scrapes in a moment of real time: no reserve pause
	srv := testtool.ServeAPI(t, fake)
	other := fakesunor.New("other-key")
	other.RateLimit = 0
	otherSrv := testtool.ServeAPI(t, other)
	lines := &testtool.Lines{}
	clk := newClock()
	var accts []accounts.Account
	for i := range 3 {
		key := fmt.Sprintf("shared-key-%d", i)
		fake.SetAccount(key, fakesunor.Account{Available: 100})
		// One key, as accounts.Build says with equal KeyIDs: here three
		// names of one test key file each, one guard.
		accts = append(accts, accounts.Account{Account: config.Account{Name: fmt.Sprintf("a%d", i), Timeout: 5 * time.Second}, KeyID: "shared", Identity: key, API: newClient(t, srv.URL, apikey.Static(key))})
	}
	accts = append(accts, accounts.Account{Account: config.Account{Name: "other", Timeout: 5 * time.Second}, KeyID: "other", Identity: "other", API: newClient(t, otherSrv.URL, apikey.Static("other-key"))})
	exp := New(accts, Options{Logger: log.NewLogfmtLogger(lines), Now: clk.Now, Scrapers: []Scraper{Usage}})
	const scrapes = 4 * 60 // an hour and a bit, every 15 s
	for i := 0; i <= scrapes; i++ {
		mfs := gather(t, exp)
		for _, a := range accts[:3] {
			if up := mustValue(t, mfs, "sunor_api_up", map[string]string{"account": a.Name}); up != 1 {
				t.Fatalf("scrape %d: %s up %v", i, a.Name, up)
			}
		}
		clk.Advance(15 * time.Second)
	}
	// At 0 and 1 h: one call each for the key, whichever account made it.
	if u := fake.Requests("usage"); u != 2 {
		t.Errorf("%d usage calls with the shared key in an hour and a bit, want 2", u)
	}
	if u := other.Requests("usage"); u != scrapes+1 {
		t.Errorf("the other key's account made %d usage calls in %d scrapes, want one each", u, scrapes+1)
	}
	if w := logLines(lines.String(), "is switched off"); len(w) != 1 {
		t.Errorf("%d warnings, want 1:\n%s", len(w), lines.String())
	}
}

// TestBalanceMissingIsNotSwitchedOff: a 404 from the balance endpoint is
// a failure like any other (a wrong --sunor.url, most likely): called,
// counted and logged on every scrape.
func TestBalanceMissingIsNotSwitchedOff(t *testing.T) {
	e := newEnv(t, withUsage())
	e.fake.Update(testKey, func(a *fakesunor.Account) { a.Fail = fakesunor.FailNotFound })
	for range 3 {
		e.scrape()
		e.clock.Advance(15 * time.Second)
	}
	if b := e.fake.Requests("balance"); b != 3 {
		t.Errorf("%d balance calls in 3 scrapes, want 3", b)
	}
	if n := len(logLines(e.log.String(), "Sunor API call failed")); n < 3 {
		t.Errorf("%d failure lines for 3 failed balance calls, want one each:\n%s", n, e.log.String())
	}
}

// gatedUsageAPI answers the balance at once and holds every usage call
// until open is closed.
type gatedUsageAPI struct{ open chan struct{} }

func (g gatedUsageAPI) Fetch(ctx context.Context, ep sunor.Endpoint) ([]float64, sunor.RateLimit, error) {
	if ep.Name == "usage" {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, sunor.RateLimit{}, &sunor.Error{Endpoint: ep.Name, Reason: sunor.ReasonTimeout, Message: ctx.Err().Error()}
		}
	}
	return make([]float64, len(ep.Fields)), sunor.RateLimit{}, nil
}

// TestUsageFirstCallOfASharedKey: while one account of a key makes the
// key's first usage call, which tells whether the API has the endpoint,
// the other accounts of the key make none, and say so: "waiting" for it,
// not "missing" with a 404 the API never gave. Once it answered, every
// account calls usage.
func TestUsageFirstCallOfASharedKey(t *testing.T) {
	api := gatedUsageAPI{open: make(chan struct{})}
	var accts []accounts.Account
	for _, name := range []string{"a", "b"} {
		accts = append(accts, accounts.Account{Account: config.Account{Name: name, Timeout: 5 * time.Second}, KeyID: "shared", Identity: name, API: api})
	}
	exp := New(accts, Options{Scrapers: []Scraper{Usage}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	exp.WithContext(ctx).Collect(make(chan prometheus.Metric, 1000))

	usage := func(s AccountStatus) *Decision { return s.Endpoints[1].Decision }
	var what []string
	for _, s := range exp.Status() {
		d := usage(s)
		if d == nil {
			t.Fatalf("%s: no decision for usage", s.Name)
		}
		what = append(what, d.What)
		if d.What == "waiting" && !strings.Contains(d.Why, "another account of this key") {
			t.Errorf("%s: usage waiting because %q", s.Name, d.Why)
		}
	}
	slices.Sort(what)
	if fmt.Sprint(what) != "[call waiting]" {
		t.Errorf("usage decisions %v in the key's first scrape, want one call and one waiting for it (not missing: the API has not answered 404)", what)
	}

	close(api.open)
	// The call's end is recorded after its answer: wait for the record.
	deadline := time.Now().Add(10 * time.Second)
	for recorded := false; !recorded; time.Sleep(5 * time.Millisecond) {
		for _, s := range exp.Status() {
			recorded = recorded || s.Endpoints[1].LastCall != nil
		}
		if time.Now().After(deadline) {
			t.Fatal("the first usage call was not recorded within 10 s of its answer")
		}
	}
	mfs := gather(t, exp)
	for _, name := range []string{"a", "b"} {
		if v := mustValue(t, mfs, "sunor_scrape_collector_success", map[string]string{"account": name, "collector": "usage"}); v != 1 {
			t.Errorf("%s: usage collector success %v once the key's first usage call answered, want 1", name, v)
		}
	}
}
