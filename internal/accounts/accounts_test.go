package accounts

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
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
	base, _ := baseurl.Parse(api.URL)
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
	return config.Account{Name: "default", URL: "https://sunor.cc", Timeout: time.Second, TaskCost: 10, HTTPClientConfig: hc}
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

// build builds the accounts of an accounts file holding yml.
func build(t *testing.T, b *Builder, yml string) []Account {
	t.Helper()
	if b.File == "" {
		b.File, b.Flags, b.Logger = filepath.Join(t.TempDir(), "sunor.yml"), flags(), log.NewNopLogger()
	}
	if err := os.WriteFile(b.File, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	accts, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return accts
}

// TestIdentityIsWhatChangesTheCalls: an edit that leaves the key, the URL
// and the HTTP client settings as they were keeps the account's identity,
// and so its state across a reload (back-off, budget, cache); one that
// changes any of them does not.
func TestIdentityIsWhatChangesTheCalls(t *testing.T) {
	t.Setenv("K1", "key-1")
	t.Setenv("K2", "key-2")
	const base = "accounts:\n  - name: a\n    api_key_env: K1\n    timeout: 5s\n    http_client_config: {basic_auth: {username: u, password: p}}\n"
	id := build(t, &Builder{}, base)[0].Identity
	for name, yml := range map[string]string{
		"a comment":    "# the account of the music team\n" + base,
		"fields moved": "accounts:\n  - timeout: 5s\n    api_key_env: K1\n    name: a\n    http_client_config:\n      basic_auth:\n        password: p\n        username: u\n",
		"policy":       base + "    labels: {team: music}\n    low_credits_threshold: 2000\n    max_calls_per_minute: 6\n    rate_limit_reserve: 20\n",
		"timeout":      strings.Replace(base, "5s", "7s", 1),
		"cache_ttl":    base + "    cache_ttl: 1m\n",
	} {
		if got := build(t, &Builder{}, yml)[0].Identity; got != id {
			t.Errorf("%s: the identity changed", name)
		}
	}
	for name, yml := range map[string]string{
		"key":      strings.Replace(base, "K1", "K2", 1),
		"url":      base + "    url: https://eu.sunor.cc\n",
		"password": strings.Replace(base, "password: p", "password: q", 1),
	} {
		if got := build(t, &Builder{}, yml)[0].Identity; got == id {
			t.Errorf("%s: the identity stayed", name)
		}
	}
}

// TestKeyID: accounts holding the same key for the same API have the same
// KeyID, whichever variable or file holds it; the KeyID does not hold the
// key.
func TestKeyID(t *testing.T) {
	t.Setenv("K1", "key-1")
	t.Setenv("K1_AGAIN", "key-1")
	t.Setenv("K2", "key-2")
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("key-1\n"), 0o600)
	accts := build(t, &Builder{}, `accounts:
  - {name: a, api_key_env: K1}
  - {name: b, api_key_env: K1_AGAIN}
  - {name: c, api_key_file: `+keyFile+`}
  - {name: d, api_key_env: K2}
  - {name: e, api_key_env: K1, url: "https://eu.sunor.cc"}
`)
	a, b, c, d, e := accts[0].KeyID, accts[1].KeyID, accts[2].KeyID, accts[3].KeyID, accts[4].KeyID
	if a == "" || a != b || a != c {
		t.Errorf("one key, three KeyIDs: %q %q %q", a, b, c)
	}
	if d == a || e == a {
		t.Error("another key, or another API, has the same KeyID")
	}
	if strings.Contains(a, "key-1") || strings.Contains(a, hex.EncodeToString([]byte("key-1"))) {
		t.Error("the KeyID holds the key")
	}
}

// TestUnusedClientsAreDropped: reloads that keep changing the HTTP client
// settings keep only the clients the accounts use.
func TestUnusedClientsAreDropped(t *testing.T) {
	t.Setenv("K1", "key-1")
	b := &Builder{}
	var kept *http.Client
	for i := range 200 {
		yml := fmt.Sprintf("accounts:\n  - {name: a, api_key_env: K1}\n  - {name: b, api_key_env: K1, http_client_config: {proxy_url: \"http://127.0.0.1:%d\"}}\n", 3000+i)
		build(t, b, yml)
		if n := len(b.clients); n != 2 {
			t.Fatalf("reload %d: %d HTTP clients for two settings", i, n)
		}
		if c := b.clients[""]; kept != nil && c != kept {
			t.Fatal("the client of unchanged settings was replaced")
		} else {
			kept = c
		}
	}
}

// TestKeyDirectory: a Build reads the key directory, unless UseKeyFiles
// handed it the files Watch found.
func TestKeyDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("key-a"), 0o600)
	b := &Builder{KeyDir: dir, Flags: flags(), Logger: log.NewNopLogger()}
	names := func() (n []string) {
		t.Helper()
		accts, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accts {
			n = append(n, a.Name+"="+a.APIKeyFile)
		}
		return n
	}
	if got := names(); len(got) != 1 || got[0] != "a="+filepath.Join(dir, "a") {
		t.Errorf("accounts %v, want a", got)
	}
	os.WriteFile(filepath.Join(dir, "b"), []byte("key-b"), 0o600)
	if got := names(); len(got) != 2 {
		t.Errorf("accounts %v after adding b, want a and b", got)
	}
	_, entries := b.KeyFiles()
	b.UseKeyFiles(dir, entries[:1])
	if got := names(); len(got) != 1 {
		t.Errorf("accounts %v from the files handed over, want a", got)
	}
}

// TestKeyAsLabelOrName: a key pasted as an owner label value or as the
// account name would be exported on every series, where no log redaction
// reaches: it is refused, and the error does not show it. A key file named
// after a key is refused too.
func TestKeyAsLabelOrName(t *testing.T) {
	const key = "sk-live-0123456789abcdef"
	t.Setenv("K1", key)
	t.Setenv("K2", "sk-live-fedcba9876543210")
	for name, tc := range map[string]struct{ yml, want string }{
		"label":             {"accounts:\n  - {name: a, api_key_env: K1, labels: {team: " + key + "}}\n", "sunor.yml:2: accounts[0] (a): labels.team: the value of \"team\" holds an API key"},
		"label, other key":  {"accounts:\n  - {name: a, api_key_env: K1}\n  - {name: b, api_key_env: K2, labels: {team: x-" + key[:12] + "}}\n", "accounts[1] (b): labels.team: the value of \"team\" holds an API key"},
		"defaults label":    {"defaults:\n  labels: {team: " + key + "}\naccounts:\n  - {name: a, api_key_env: K1}\n", "sunor.yml:2: defaults: labels.team: the value of \"team\" holds an API key"},
		"name":              {"accounts:\n  - {name: " + key + ", api_key_env: K1}\n", "sunor.yml:2: accounts[0]"},
		"label name":        {"accounts:\n  - name: a\n    api_key_env: K1\n    labels: {" + strings.ReplaceAll(key, "-", "_") + ": x}\n", "sunor.yml:4: accounts[0] (a): labels: a label name holds an API key"},
		"label name, piece": {"defaults:\n  labels:\n    team_" + strings.ReplaceAll(key[8:], "-", "_") + ": x\naccounts:\n  - {name: a, api_key_env: K1}\n", "sunor.yml:2: defaults: labels: a label name holds an API key"},
	} {
		b := &Builder{File: filepath.Join(t.TempDir(), "sunor.yml"), Flags: flags(), Logger: log.NewNopLogger()}
		os.WriteFile(b.File, []byte(tc.yml), 0o600)
		_, err := b.Build()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "holds an API key") {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		} else if strings.Contains(err.Error(), key[:10]) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, key), []byte(key), 0o600)
	_, err := (&Builder{KeyDir: dir, Flags: flags(), Logger: log.NewNopLogger()}).Build()
	if err == nil || !strings.Contains(err.Error(), "--sunor.api-key-directory: the name of a key file holds an API key") || strings.Contains(err.Error(), key[:10]) {
		t.Errorf("a key file named after its key: err = %v", err)
	}
	// A key pasted as the key file's name.
	b := &Builder{File: filepath.Join(t.TempDir(), "sunor.yml"), Flags: flags(), Logger: log.NewNopLogger()}
	os.WriteFile(b.File, []byte("accounts:\n  - {name: a, api_key_file: "+key+"}\n"), 0o600)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "sunor.yml:2: accounts[0] (a): api_key_file: no such file (the value is not shown") || strings.Contains(err.Error(), key[:10]) {
		t.Errorf("a key as api_key_file: err = %v", err)
	}
	// Labels and names that merely look like keys stay.
	build(t, &Builder{}, "accounts:\n  - {name: sk-live-prod, api_key_env: K1, labels: {team: sk-live-music}}\n")
}

// TestKeyIDSameAPI: one API written two ways is one key's budget there.
func TestKeyIDSameAPI(t *testing.T) {
	t.Setenv("K1", "key-1")
	accts := build(t, &Builder{}, `accounts:
  - {name: a, api_key_env: K1, url: "https://sunor.cc"}
  - {name: b, api_key_env: K1, url: "https://SUNOR.cc:443/"}
  - {name: c, api_key_env: K1, url: "http://sunor.cc"}
  - {name: d, api_key_env: K1, url: "https://sunor.cc:8443"}
`)
	if accts[0].KeyID != accts[1].KeyID {
		t.Error("https://sunor.cc and https://SUNOR.cc:443/ have two KeyIDs: the key's ceiling is doubled")
	}
	if accts[2].KeyID == accts[0].KeyID || accts[3].KeyID == accts[0].KeyID {
		t.Error("another scheme or port has the same KeyID")
	}
}

// TestKeysRedactedFromBuild: a key is in the set the logs are redacted of
// once it is built, before the account's first call.
func TestKeysRedactedFromBuild(t *testing.T) {
	const key = "sk-build-0123456789abcdef"
	t.Setenv("K1", key)
	build(t, &Builder{}, "accounts:\n  - {name: a, api_key_env: K1}\n")
	if got := redact.Known.Clean("echo "+key, 100); strings.Contains(got, key[:10]) {
		t.Errorf("a built key is not redacted: %q", got)
	}
}

// TestRotatedKeyFileKeyID: a key file rotated to the key of another
// account shares that account's KeyID, and so its budget, from the next
// Build on (keydir.Watch reports a rotation for that).
func TestRotatedKeyFileKeyID(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("key-1"), 0o600)
	os.WriteFile(filepath.Join(dir, "b"), []byte("key-2"), 0o600)
	b := &Builder{KeyDir: dir, Flags: flags(), Logger: log.NewNopLogger()}
	accts, err := b.Build()
	if err != nil || accts[0].KeyID == accts[1].KeyID {
		t.Fatalf("two keys, one KeyID, or err %v", err)
	}
	tmp := filepath.Join(t.TempDir(), "a")
	os.WriteFile(tmp, []byte("key-2"), 0o600)
	os.Rename(tmp, filepath.Join(dir, "a"))
	b.UseKeyFiles(b.KeyFiles())
	if accts, err = b.Build(); err != nil || accts[0].KeyID != accts[1].KeyID {
		t.Errorf("a rotated to b's key: KeyIDs equal %v (err %v), want one budget", accts[0].KeyID == accts[1].KeyID, err)
	}
}

// TestKeyFileNamedLikeAnAccount: at start-up a key file named like an
// account of the file stops the exporter; once it runs, the file is
// skipped with a warning, so that the directory's other changes (a key
// added, a key removed) still take effect.
func TestKeyFileNamedLikeAnAccount(t *testing.T) {
	t.Setenv("K1", "key-1")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("key-a"), 0o600)
	logs := &testtool.Lines{}
	b := &Builder{File: filepath.Join(t.TempDir(), "sunor.yml"), Flags: flags(), Logger: log.NewLogfmtLogger(logs)}
	os.WriteFile(b.File, []byte("api_key_directory: "+dir+"\naccounts:\n  - {name: a, api_key_env: K1}\n"), 0o600)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `"a" is already the name of an account of the file`) {
		t.Fatalf("start-up: err = %v", err)
	}
	os.Remove(filepath.Join(dir, "a"))
	os.WriteFile(filepath.Join(dir, "b"), []byte("key-b"), 0o600)
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("key-a"), 0o600)
	os.Remove(filepath.Join(dir, "b"))
	os.WriteFile(filepath.Join(dir, "c"), []byte("key-c"), 0o600)
	accts, err := b.Build()
	if err != nil {
		t.Fatalf("a reload with a file named like an account: %v; the key added and the key removed do not take effect", err)
	}
	var names []string
	for _, a := range accts {
		names = append(names, a.Name+"="+a.APIKeyEnv+filepath.Base(a.APIKeyFile))
	}
	if want := []string{"a=K1.", "c=c"}; !slices.Equal(names, want) {
		t.Errorf("accounts %q, want %q", names, want)
	}
	if n := logs.Count("is already the name of an account of the file; skipping the file"); n != 1 {
		t.Errorf("%d warnings about the file, want 1:\n%s", n, logs)
	}
}

// TestPlainHTTPWarns: an http:// API URL on another host is a warning at
// build time (the key would cross the network unencrypted); loopback, as
// the fake API and a local proxy use, and https are not.
func TestPlainHTTPWarns(t *testing.T) {
	t.Setenv("K1", "key-1")
	for url, warn := range map[string]bool{
		"http://api.example.com": true,
		"http://10.1.2.3:8080":   true,
		"http://127.0.0.1:18080": false,
		"http://[::1]:18080":     false,
		"http://LocalHost:18080": false,
		"https://sunor.cc":       false,
	} {
		var logs testtool.Lines
		b := &Builder{File: filepath.Join(t.TempDir(), "sunor.yml"), Flags: flags(), Logger: log.NewLogfmtLogger(&logs)}
		build(t, b, "accounts:\n  - {name: a, api_key_env: K1, url: \""+url+"\"}\n")
		got := strings.Contains(logs.String(), "plain http")
		if got != warn {
			t.Errorf("%s: warned %v, want %v; log: %q", url, got, warn, logs.String())
		}
		if strings.Contains(logs.String(), "key-1") {
			t.Errorf("%s: the warning shows the key: %q", url, logs.String())
		}
	}
}

// TestKeyNamedFileSkipped: once running, a key directory's file whose
// name holds a piece of a key in use is skipped with one warning that
// names it with the key redacted, and every other change of the directory
// applies. Before, every reload was rejected while it was there, with an
// error that did not say which file. At start it is an error naming it.
func TestKeyNamedFileSkipped(t *testing.T) {
	const key = "sk-live-0123456789abcdef"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte(key), 0o600)
	var logs testtool.Lines
	b := &Builder{KeyDir: dir, Flags: flags(), Logger: log.NewLogfmtLogger(&logs)}
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	bad := "team-" + key[3:15]
	os.WriteFile(filepath.Join(dir, bad), []byte("sk-live-other-key"), 0o600)
	os.WriteFile(filepath.Join(dir, "c"), []byte("sk-live-third-key"), 0o600)
	for range 2 {
		accts, err := b.Build()
		if err != nil {
			t.Fatalf("a reload with a key file named after a key: %v", err)
		}
		if got := slices.Collect(func(yield func(string) bool) {
			for _, a := range accts {
				yield(a.Name)
			}
		}); !slices.Equal(got, []string{"a", "c"}) {
			t.Errorf("accounts %v, want [a c]: the file named after a key skipped, the rest applied", got)
		}
	}
	if n := logs.Count("holds an API key"); n != 1 {
		t.Errorf("%d warnings about the file over two reloads, want 1:\n%s", n, logs.String())
	}
	shown := filepath.Join(dir, "team") // then the key's piece, redacted
	if !strings.Contains(logs.String(), shown) || !strings.Contains(logs.String(), redact.Redacted) {
		t.Errorf("the warning does not name the file, its key redacted:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), key[3:13]) {
		t.Errorf("the warning shows the key:\n%s", logs.String())
	}
	// At start: one error, naming the file.
	_, err := (&Builder{KeyDir: dir, Flags: flags(), Logger: log.NewNopLogger()}).Build()
	if err == nil || !strings.Contains(err.Error(), shown) || strings.Contains(err.Error(), key[3:13]) {
		t.Errorf("at start: err = %v, want one naming the file, the key redacted", err)
	}
}

// TestMergedClientSettingsGoWhereMerged: http_client_config brought in by a
// YAML merge key (<<: *anchor) is the settings of the entry it is merged
// into, and of no other: a proxy given that way carries that entry's calls,
// and only those. Before, the merged settings did not count in the
// client's identity, so the entry shared the flags' client with the
// entries that have none: whichever was built first gave its proxy (or
// none) to all of them.
func TestMergedClientSettingsGoWhereMerged(t *testing.T) {
	t.Setenv("K1", "key-1")
	t.Setenv("K2", "key-2")
	var direct, proxied atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { direct.Add(1); http.Error(w, "no", 500) }))
	defer api.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxied.Add(1); http.Error(w, "no", 500) }))
	defer proxy.Close()
	src := `  - &p {name: source, api_key_env: K1, url: "` + api.URL + `", http_client_config: {proxy_url: "` + proxy.URL + `"}}
`
	merged := "  - {<<: *p, name: merged, api_key_env: K2}\n"
	none := `  - {name: direct, api_key_env: K2, url: "` + api.URL + `"}
`
	for name, yml := range map[string]string{
		"merged, then none": "accounts:\n" + src + merged + none,
		"none, then merged": "accounts:\n" + none + src + merged,
		"merged as a list":  "accounts:\n" + none + src + strings.Replace(merged, "*p", "[*p]", 1),
		"an alias":          "accounts:\n" + none + strings.Replace(src, "{proxy_url:", "&hc {proxy_url:", 1) + "  - {name: aliased, api_key_env: K2, url: \"" + api.URL + "\", http_client_config: *hc}\n",
		"merged into defaults": `defaults: {<<: {http_client_config: {proxy_url: "` + proxy.URL + `", tls_config: {insecure_skip_verify: true}}}}
accounts:
  - {name: a, api_key_env: K1, url: "` + api.URL + `"}
`,
	} {
		t.Run(name, func(t *testing.T) {
			for _, a := range build(t, &Builder{}, yml) {
				direct.Store(0)
				proxied.Store(0)
				a.API.Fetch(context.Background(), sunor.Balance)
				if want := a.Name != "direct"; proxied.Load() > 0 != want || direct.Load() > 0 == want {
					t.Errorf("%s: %d calls through the proxy, %d direct", a.Name, proxied.Load(), direct.Load())
				}
			}
		})
	}
}

// TestHTTPHeadersAreSent: http_client_config.http_headers reach the API.
func TestHTTPHeadersAreSent(t *testing.T) {
	t.Setenv("K1", "key-1")
	got := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("X-Test"):
		default:
		}
		http.Error(w, "no", 500)
	}))
	defer api.Close()
	a := build(t, &Builder{}, "accounts:\n  - {name: a, api_key_env: K1, url: \""+api.URL+"\", http_client_config: {http_headers: {X-Test: {values: [one]}}}}\n")[0]
	a.API.Fetch(context.Background(), sunor.Balance)
	select {
	case h := <-got:
		if h != "one" {
			t.Errorf("X-Test: %q, want one", h)
		}
	default:
		t.Error("the API got no call")
	}
}

// TestMostAccounts: the file's accounts and the key directory's together
// are at most config.MaxAccounts.
func TestMostAccounts(t *testing.T) {
	t.Setenv("K1", "key-1")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "from-dir"), []byte("key-2"), 0o600)
	for _, n := range []int{config.MaxAccounts - 1, config.MaxAccounts} {
		var b strings.Builder
		fmt.Fprintf(&b, "api_key_directory: %s\naccounts:\n", dir)
		for i := range n {
			fmt.Fprintf(&b, "  - {name: a%d, api_key_env: K1}\n", i)
		}
		cfg := filepath.Join(t.TempDir(), "sunor.yml")
		os.WriteFile(cfg, []byte(b.String()), 0o600)
		accts, err := (&Builder{File: cfg, Flags: flags(), Logger: log.NewNopLogger()}).Build()
		want := fmt.Sprintf("sunor.yml:1: api_key_directory: %d accounts with those of the file; at most %d", config.MaxAccounts+1, config.MaxAccounts)
		if n < config.MaxAccounts && (err != nil || len(accts) != config.MaxAccounts) {
			t.Errorf("%d accounts and a key file: %d, %v", n, len(accts), err)
		} else if n == config.MaxAccounts && (err == nil || !strings.HasSuffix(err.Error(), want)) {
			t.Errorf("%d accounts and a key file: %v, want %q", n, err, want)
		}
	}
}
