// Command relay is the floor the load script compares the exporter with:
// the least a Go exporter can do per scrape. Each request to /probe makes
// one balance call to the API, decodes it and writes three series in the
// text format; no registry, no compression, no checks.
//
//	relay -listen 127.0.0.1:0 -url http://127.0.0.1:18080 -key KEY
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	api := flag.String("url", "", "base URL of the (fake) Sunor API")
	key := flag.String("key", "", "API key")
	flag.Parse()
	http.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", *api+"/api/v1/account/balance", nil)
		req.Header.Set("x-api-key", *key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var b struct {
			Data struct{ Available, Frozen, Total float64 }
		}
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "sunor_credits_available %g\nsunor_credits_frozen %g\nsunor_credits_total %g\n", b.Data.Available, b.Data.Frozen, b.Data.Total)
	})
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "relay listening on http://%s\n", l.Addr())
	log.Fatal(http.Serve(l, nil))
}
