package accounts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// TestRedirectsStayOff: follow_redirects: true in http_client_config does
// not make the client follow a redirect, so the key goes nowhere else.
func TestRedirectsStayOff(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer elsewhere.Close()
	api := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/api/v1/account/balance", http.StatusTemporaryRedirect))
	defer api.Close()

	hc := commoncfg.DefaultHTTPClientConfig
	hc.FollowRedirects = true
	base, _ := sunor.ParseBaseURL(api.URL)
	hcl, err := NewHTTPClient(hc, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := sunor.NewClient(base, hcl, apikey.Static("k").Key)
	_, _, err = c.Fetch(context.Background(), sunor.Balance)
	var e *sunor.Error
	if !errors.As(err, &e) || e.Reason != sunor.ReasonRedirect {
		t.Errorf("err = %v, want a redirect failure", err)
	}
	if reached.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

// TestEqualSettingsShareOneClient: accounts whose http_client_config reads
// the same share one HTTP client (one pool of connections), across a
// reload too; different settings get their own.
func TestEqualSettingsShareOneClient(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sunor.yml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("K1", "key-1")
	t.Setenv("K2", "key-2")
	t.Setenv("K3", "key-3")
	write(`accounts:
  - {name: a, api_key_env: K1}
  - {name: b, api_key_env: K2}
  - name: c
    api_key_env: K3
    http_client_config: {proxy_url: "http://127.0.0.1:3128"}
`)
	b := &Builder{File: cfg, Flags: flags(), Logger: log.NewNopLogger()}
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.clients); n != 2 {
		t.Fatalf("%d HTTP clients for two settings, want 2", n)
	}
	write(`accounts:
  - {name: a, api_key_env: K1}
  - {name: d, api_key_env: K2, http_client_config: {proxy_url: "http://127.0.0.1:3128"}}
  - {name: e, api_key_env: K3, http_client_config: {proxy_url: "http://127.0.0.1:3129"}}
`)
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	// d has c's settings, written in flow style: c's client.
	if n := len(b.clients); n != 3 {
		t.Errorf("%d HTTP clients after the reload, want 3", n)
	}
}

// TestReloadSeesSecretChanges: the identity of an account changes with a
// secret in http_client_config, which yaml.Marshal of the parsed config
// would print as <secret>.
func TestReloadSeesSecretChanges(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sunor.yml")
	t.Setenv("K1", "key-1")
	ids := map[string]bool{}
	for _, pw := range []string{"one", "two"} {
		if err := os.WriteFile(cfg, []byte("accounts:\n  - name: a\n    api_key_env: K1\n    http_client_config:\n      basic_auth: {username: u, password: "+pw+"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		accts, err := (&Builder{File: cfg, Flags: flags(), Logger: log.NewNopLogger()}).Build()
		if err != nil {
			t.Fatal(err)
		}
		ids[accts[0].Identity] = true
	}
	if len(ids) != 2 {
		t.Error("a changed password left the account's identity unchanged: a reload would keep the old client")
	}
}

// flags are the flags' defaults.
func flags() config.Account {
	hc := commoncfg.DefaultHTTPClientConfig
	hc.ProxyFromEnvironment = true
	return config.Account{Name: "default", URL: "https://sunor.cc", Timeout: time.Second, HTTPClientConfig: hc}
}

func TestAccountNameMustBeUTF8(t *testing.T) {
	t.Setenv("SUNOR_API_KEY", "k")
	f := flags()
	f.Name = "bad\xff"
	_, err := (&Builder{Flags: f, Logger: log.NewNopLogger()}).Build()
	if err == nil || !strings.Contains(err.Error(), "--sunor.account") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("err = %v, want one naming --sunor.account and UTF-8", err)
	}
}
