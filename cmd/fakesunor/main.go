// Command fakesunor serves a fake Sunor API on loopback, for the demo, the
// end-to-end test and the load script. Accounts are created with --key
// (repeatable) or --accounts N and changed at run time through PUT
// /fake/accounts/{key}; see internal/testing/fakesunor. GET /fake/connections tells
// how many TCP connections are open and the most that were open at once
// since the last POST /fake/connections/reset, so that a load test can see
// how many connections the exporter opens to the API.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/fakesunor"
)

type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// options are the command line's.
type options struct {
	listen, keyPrefix     string
	burn                  float64
	keys                  keyList
	nAccounts, rateLimit  int
	delay                 time.Duration
	limitHeaders, noUsage bool
}

// newFlags defines the flags on fs, and its usage text: the flags, then
// the control API (fakesunor.ControlAPI).
func newFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:18080", "address to listen on; 127.0.0.1:0 takes a free port (the first line on stderr says which)")
	fs.Float64Var(&o.burn, "burn-per-minute", 0, "credits each account spends per minute, for a live demo")
	fs.Var(&o.keys, "key", "an API key the fake accepts, with the documented example balance (repeatable; default demo-key)")
	fs.IntVar(&o.nAccounts, "accounts", 0, "also accept the keys <key-prefix>1 ... <key-prefix>N, each its own account")
	fs.StringVar(&o.keyPrefix, "key-prefix", "key-", "prefix of the keys --accounts creates")
	fs.DurationVar(&o.delay, "delay", 0, "hold every API answer back this long (a slow API)")
	fs.IntVar(&o.rateLimit, "rate-limit", 120, "requests per minute per key counted down in X-RateLimit-Remaining (not enforced); 0 sends no rate-limit header")
	fs.BoolVar(&o.noUsage, "no-usage", false, "answer GET /api/v1/account/usage with 404 for every key, as an API without the usage endpoint")
	fs.BoolVar(&o.limitHeaders, "limit-headers", false, "also send X-RateLimit-Limit and X-RateLimit-Reset, as older API versions did (the current docs promise X-RateLimit-Remaining only)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: fakesunor [flags]\n\n"+
			"A fake Sunor API on loopback: GET /api/v1/account/balance and /api/v1/account/usage\n"+
			"with the x-api-key header, for the demo, the tests and trying the exporter without a key.\n"+
			"Each key is an account, with the documented example balance (available 950, frozen 10).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(w, "\n%s", fakesunor.ControlAPI)
	}
	return o
}

func main() {
	o := newFlags(flag.CommandLine)
	flag.Parse()
	keys := o.keys
	if len(keys) == 0 && o.nAccounts == 0 {
		keys = keyList{"demo-key"}
	}
	for i := 1; i <= o.nAccounts; i++ {
		keys = append(keys, fmt.Sprintf("%s%d", o.keyPrefix, i))
	}
	srv := fakesunor.New("")
	srv.RateLimit = o.rateLimit
	srv.LimitHeaders = o.limitHeaders
	srv.NoUsage = o.noUsage
	for _, k := range keys {
		srv.SetAccount(k, fakesunor.Account{Available: 950, Frozen: 10, TasksCreated: 42, CreditsUsed: 350, CreditsToppedUp: 1000,
			BurnPerMinute: o.burn, Delay: fakesunor.Duration(o.delay)})
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.Fatalf("fakesunor: %v", err)
	}
	var conns connCounter
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("GET /fake/connections", conns.serve)
	mux.HandleFunc("POST /fake/connections/reset", conns.reset)
	// The address line is the readiness signal scripts wait for.
	fmt.Fprintf(os.Stderr, "fakesunor listening on http://%s\n", l.Addr())
	hs := &http.Server{Handler: mux, ConnState: conns.track, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(l))
}

// connCounter counts the server's TCP connections, whoever opened them
// (the control requests' own connection included).
type connCounter struct {
	mu                sync.Mutex
	open, peak, total int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
		c.total++
		c.peak = max(c.peak, c.open)
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func (c *connCounter) serve(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	v := map[string]int{"open": c.open, "peak": c.peak, "total": c.total}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// reset starts a new peak (from the connections open now) and total.
func (c *connCounter) reset(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.peak, c.total = c.open, 0
	c.mu.Unlock()
	c.serve(w, r)
}
