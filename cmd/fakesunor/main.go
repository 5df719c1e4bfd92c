// Command fakesunor serves a fake Sunor API on loopback, for the demo and the
// end-to-end test. Accounts are created with --key (repeatable) and changed
// at run time through PUT /fake/accounts/{key}; see internal/fakesunor.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/sunor-community/sunor_exporter/internal/fakesunor"
)

type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "address to listen on")
	burn := flag.Float64("burn-per-minute", 0, "credits each account spends per minute, for a live demo")
	var keys keyList
	flag.Var(&keys, "key", "an API key the fake accepts, with the documented example balance (repeatable)")
	flag.Parse()
	if len(keys) == 0 {
		keys = keyList{"demo-key"}
	}
	srv := fakesunor.New("")
	for _, k := range keys {
		srv.SetAccount(k, fakesunor.Account{Available: 950, Frozen: 10, TasksCreated: 42, CreditsUsed: 350, CreditsToppedUp: 1000, BurnPerMinute: *burn})
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("fakesunor: %v", err)
	}
	// The address line is the readiness signal scripts wait for.
	fmt.Fprintf(os.Stderr, "fakesunor listening on http://%s\n", l.Addr())
	log.Fatal(http.Serve(l, srv))
}
