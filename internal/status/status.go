// Package status renders the status page: every account's state in words,
// why no call was made and when the next may be, and the recent API calls,
// as HTML for a person and as JSON for scripts. It reads the collector's
// snapshot (collector.Exporter.Status) and makes no API call.
package status

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
)

// MaxRows is how many accounts a page shows; the rest are counted. With
// thousands of accounts the page stays small: filter to see others.
const MaxRows = 100

// States in words, trouble first: the order of the page.
const (
	StateDown   = "down"
	StatePaused = "paused"
	// StateExhausted: fewer credits than one task costs (task_cost):
	// every task fails until a top-up.
	StateExhausted = "exhausted"
	StateLow       = "low"
	StateStale     = "stale"
	StateWaiting   = "waiting for first answer"
	StateOK        = "ok"
)

// states are the State* words in the page's order.
var states = []string{StateDown, StatePaused, StateExhausted, StateLow, StateStale, StateWaiting, StateOK}

// Row is one account on the page.
type Row struct {
	Account string            `json:"account"`
	Labels  map[string]string `json:"labels"`
	// State is one of the State* words, with what it is about for down
	// ("down: unauthorized") and paused ("paused: Retry-After until
	// 12:03:00"); Kind is the word alone, for filters and styles.
	State string `json:"state"`
	Kind  string `json:"kind"`
	// Available, Frozen and USD are the last good balance; absent before
	// the first.
	Available *float64 `json:"available,omitempty"`
	Frozen    *float64 `json:"frozen,omitempty"`
	USD       *float64 `json:"usd,omitempty"`
	Threshold float64  `json:"low_credits_threshold"`
	Budget    float64  `json:"daily_budget,omitempty"`
	TaskCost  float64  `json:"task_cost,omitempty"`
	// LastGoodAt is when the balance last answered well; AgeSeconds its
	// age when the page was made.
	LastGoodAt *time.Time `json:"last_good_at,omitempty"`
	AgeSeconds *float64   `json:"age_seconds,omitempty"`
	// LastCall is the latest API call of any endpoint of the account.
	LastCall *collector.Call `json:"last_call"`
	// Decision is the guard's latest decision for the balance.
	Decision *collector.Decision `json:"decision"`
	Key      collector.KeyStatus `json:"key"`
	// NextCallAt is when the next call may be made; zero: at the next
	// scrape. NextCallWhy says why not sooner.
	NextCallAt  *time.Time `json:"next_call_at,omitempty"`
	NextCallWhy string     `json:"next_call_why"`
	DebugURL    string     `json:"debug_url"`
}

// Page is the whole page, in JSON as in HTML.
type Page struct {
	Generated time.Time `json:"generated"`
	// Total is the number of accounts in force; Matching those the
	// filters keep; Rows the first MaxRows of them, trouble first;
	// NotShown the rest.
	Total       int              `json:"total"`
	Matching    int              `json:"matching"`
	NotShown    int              `json:"not_shown"`
	Counts      map[string]int   `json:"counts"` // by Kind, over all accounts
	Rows        []Row            `json:"accounts"`
	RecentCalls []collector.Call `json:"recent_calls"` // the newest first
	Filter      Filter           `json:"filter"`
}

// Filter keeps the accounts a page shows: State is a state word or its
// beginning ("down" keeps "down: unauthorized"), Account a piece of the
// name (any case), Labels owner labels by exact value.
type Filter struct {
	State   string            `json:"state,omitempty"`
	Account string            `json:"account,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// reserved are the query parameters that are not owner labels.
var reserved = []string{"state", "account", "format"}

// ParseFilter reads a filter from the query: state, account, and any other
// parameter as an owner label.
func ParseFilter(q url.Values) Filter {
	f := Filter{State: q.Get("state"), Account: q.Get("account")}
	for k, v := range q {
		if !slices.Contains(reserved, k) && len(v) > 0 && v[0] != "" {
			if f.Labels == nil {
				f.Labels = map[string]string{}
			}
			f.Labels[k] = v[0]
		}
	}
	return f
}

func (f Filter) keeps(a *collector.AccountStatus, state string) bool {
	if f.State != "" && !strings.HasPrefix(state, f.State) {
		return false
	}
	if f.Account != "" && !strings.Contains(strings.ToLower(a.Name), strings.ToLower(f.Account)) {
		return false
	}
	for k, v := range f.Labels {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// Build makes the page of accts at now, filtered by f. Every account's
// state is worked out, to count and to sort; only the rows shown are
// built whole, so that 10 000 accounts cost little more than 100.
func Build(accts []collector.AccountStatus, recent []collector.Call, f Filter, now time.Time) Page {
	p := Page{Generated: now, Total: len(accts), Counts: map[string]int{}, RecentCalls: recent, Filter: f}
	type match struct {
		a           *collector.AccountStatus
		kind, state string
	}
	matches := make([]match, 0, min(len(accts), 4*MaxRows))
	for i := range accts {
		kind, state := state(&accts[i], now)
		p.Counts[kind]++
		if f.keeps(&accts[i], state) {
			matches = append(matches, match{&accts[i], kind, state})
		}
	}
	slices.SortFunc(matches, func(x, y match) int {
		return cmp.Or(cmp.Compare(slices.Index(states, x.kind), slices.Index(states, y.kind)), strings.Compare(x.a.Name, y.a.Name))
	})
	p.Matching = len(matches)
	p.Rows = make([]Row, 0, min(len(matches), MaxRows))
	for _, m := range matches[:min(len(matches), MaxRows)] {
		p.Rows = append(p.Rows, row(m.a, now))
	}
	p.NotShown = p.Matching - len(p.Rows)
	return p
}

// clock writes a time as the page does: the time of day in UTC, with the
// date when it is not today.
func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

func row(a *collector.AccountStatus, now time.Time) Row {
	r := Row{Account: a.Name, Labels: a.Labels, Threshold: a.Threshold, Budget: a.Budget, TaskCost: a.TaskCost, Key: a.Key,
		DebugURL: "/probe?" + url.Values{"account": {a.Name}, "debug": {"true"}}.Encode()}
	bal := a.Endpoints[0]
	r.Decision = bal.Decision
	for i := range a.Endpoints {
		if c := a.Endpoints[i].LastCall; c != nil && (r.LastCall == nil || c.At.After(r.LastCall.At)) {
			r.LastCall = c
		}
	}
	if a.HasBalance {
		avail, frozen, usd := a.Available, a.Frozen, a.Available/100
		r.Available, r.Frozen, r.USD = &avail, &frozen, &usd
	}
	if !bal.LastGoodAt.IsZero() {
		at, age := bal.LastGoodAt, now.Sub(bal.LastGoodAt).Seconds()
		r.LastGoodAt, r.AgeSeconds = &at, &age
	}
	r.Kind, r.State = state(a, now)
	r.NextCallWhy = "at the next scrape"
	next := func(t time.Time, why string) {
		if t.After(now) && (r.NextCallAt == nil || t.After(*r.NextCallAt)) {
			r.NextCallAt, r.NextCallWhy = &t, why
		}
	}
	next(a.Key.BudgetFreeAt, "the key's ceiling of "+strconv.Itoa(a.Key.Ceiling)+" calls a minute is spent")
	if a.CacheTTL > 0 && !bal.LastGoodAt.IsZero() {
		next(bal.LastGoodAt.Add(a.CacheTTL), "the answer is younger than the cache TTL of "+a.CacheTTL.String())
	}
	next(a.Key.ReserveUntil, "X-RateLimit-Remaining is at or below the reserve of "+strconv.Itoa(a.Key.Reserve))
	next(a.Key.BackoffUntil, "a 429's Retry-After")
	return r
}

// state says in words what a scrape of the account shows now, and why.
func state(a *collector.AccountStatus, now time.Time) (kind, words string) {
	bal := a.Endpoints[0]
	switch {
	case bal.LastFailed:
		reason := "failed"
		if bal.LastCall != nil && bal.LastCall.Reason != "" {
			reason = bal.LastCall.Reason
		}
		return StateDown, StateDown + ": " + reason
	case !a.Key.BackoffUntil.IsZero():
		return StatePaused, StatePaused + ": Retry-After until " + clock(a.Key.BackoffUntil, now)
	case !a.Key.ReserveUntil.IsZero():
		return StatePaused, StatePaused + ": reserve until " + clock(a.Key.ReserveUntil, now)
	case bal.LastGoodAt.IsZero():
		return StateWaiting, StateWaiting
	case now.Sub(bal.LastGoodAt) > max(collector.MaxStale, a.CacheTTL):
		return StateStale, StateStale
	case a.TaskCost > 0 && a.Available < a.TaskCost:
		return StateExhausted, StateExhausted
	case a.Threshold > 0 && a.Available < a.Threshold:
		return StateLow, StateLow
	}
	return StateOK, StateOK
}
