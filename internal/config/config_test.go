package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// flags are the flags' defaults, with a cache TTL to tell them apart.
func flags() Account {
	hc := commoncfg.DefaultHTTPClientConfig
	hc.ProxyFromEnvironment = true
	return Account{Name: "default", URL: "https://sunor.cc", Timeout: 10 * time.Second, CacheTTL: 30 * time.Second,
		MaxCallsPerMinute: 12, RateLimitReserve: 10, LowCreditsThreshold: 500, TaskCost: 10, HTTPClientConfig: hc}
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sunor.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadExample(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	p := write(t, `accounts:
  - name: prod
    api_key_file: /run/secrets/sunor-prod
  - name: staging
    api_key_env: SUNOR_STAGING_KEY
    url: https://staging.sunor.cc
    timeout: 5s
    cache_ttl: 0s
    max_calls_per_minute: 0
    http_client_config:
      tls_config:
        ca_file: /etc/ssl/ca.pem
      proxy_url: http://proxy:3128
`)
	accts, _, err := Accounts(p, "", flags())
	if err != nil {
		t.Fatal(err)
	}
	prod, staging := accts[0], accts[1]
	if prod.LowCreditsThreshold != 500 || prod.Labels != nil {
		t.Errorf("prod: threshold %v, labels %v; want the flags' 500 and none", prod.LowCreditsThreshold, prod.Labels)
	}
	if prod.URL != "https://sunor.cc" || prod.Timeout != 10*time.Second || prod.CacheTTL != 30*time.Second || prod.MaxCallsPerMinute != 12 {
		t.Errorf("prod did not take the defaults: %+v", prod)
	}
	if !prod.HTTPClientConfig.ProxyFromEnvironment || prod.ClientKey != "" {
		t.Error("prod: the flags' HTTP client settings should apply, proxies from the environment")
	}
	// 0 is a value, not "unset": it does not turn into the flag's.
	if staging.URL != "https://staging.sunor.cc" || staging.Timeout != 5*time.Second || staging.CacheTTL != 0 || staging.MaxCallsPerMinute != 0 {
		t.Errorf("staging lost its own settings: %+v", staging)
	}
	if staging.HTTPClientConfig.TLSConfig.CAFile != "/etc/ssl/ca.pem" || staging.HTTPClientConfig.ProxyURL.String() != "http://proxy:3128" || staging.HTTPClientConfig.ProxyFromEnvironment {
		t.Errorf("staging HTTP client settings: %+v", staging.HTTPClientConfig)
	}
	if err := staging.Errorf("api_key_env", "is not set"); !strings.HasSuffix(err.Error(), "sunor.yml:5: accounts[1] (staging): api_key_env: is not set") {
		t.Errorf("Errorf = %v", err)
	}
	if err := staging.Errorf("http_client_config.tls_config.ca_file", "x"); !strings.HasSuffix(err.Error(), "sunor.yml:12: accounts[1] (staging): http_client_config.tls_config.ca_file: x") {
		t.Errorf("Errorf of a nested field = %v", err)
	}
	if err := prod.Errorf("timeout", "x"); err.Error() != "--sunor.timeout: x" {
		t.Errorf("Errorf of a setting from the flags = %v", err)
	}
}

// TestDefaultsBlock: flags, then defaults:, then the entry; an empty value
// keeps the one beneath.
func TestDefaultsBlock(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	p := write(t, `defaults:
  timeout: 3s
  http_client_config: {proxy_url: "http://proxy:3128"}
  labels: {team: platform}
  low_credits_threshold: 1000
  daily_budget: 5000
accounts:
  - {name: a, api_key_env: K}
  - {name: b, api_key_env: K, timeout: 4s, cache_ttl: , labels: {team: music, tier: gold}, low_credits_threshold: 0, daily_budget: 0}
`)
	f := flags()
	f.Labels, f.LowCreditsThreshold = map[string]string{"env": "prod"}, 500
	accts, _, err := Accounts(p, "", f)
	if err != nil {
		t.Fatal(err)
	}
	a, b := accts[0], accts[1]
	if !maps.Equal(a.Labels, map[string]string{"env": "prod", "team": "platform"}) || !maps.Equal(b.Labels, map[string]string{"env": "prod", "team": "music", "tier": "gold"}) || len(f.Labels) != 1 {
		t.Errorf("labels: a %v, b %v, flags %v", a.Labels, b.Labels, f.Labels)
	}
	if a.LowCreditsThreshold != 1000 || b.LowCreditsThreshold != 0 || a.DailyBudget != 5000 || b.DailyBudget != 0 {
		t.Errorf("low_credits_threshold: a %v, b %v; daily_budget: a %v, b %v", a.LowCreditsThreshold, b.LowCreditsThreshold, a.DailyBudget, b.DailyBudget)
	}
	if a.Timeout != 3*time.Second || b.Timeout != 4*time.Second || b.CacheTTL != 30*time.Second || a.MaxCallsPerMinute != 12 {
		t.Errorf("layers: a %v, b %v %v, a's calls %d", a.Timeout, b.Timeout, b.CacheTTL, a.MaxCallsPerMinute)
	}
	if a.HTTPClientConfig.ProxyURL.String() != "http://proxy:3128" || a.ClientKey == "" || a.ClientKey != b.ClientKey {
		t.Errorf("the defaults' HTTP client settings did not reach the entries: %+v", a.HTTPClientConfig)
	}
	if err := a.Errorf("timeout", "x"); !strings.HasSuffix(err.Error(), "sunor.yml:2: defaults: timeout: x") {
		t.Errorf("Errorf of a setting from defaults: = %v", err)
	}
}

// TestPrometheusDurations: the file takes Prometheus's durations (1d, 1w)
// as well as Go's, as docs/configuration.md says; a day is 24 hours.
func TestPrometheusDurations(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	accts, _, err := Accounts(write(t, "accounts:\n  - {name: a, api_key_env: K, timeout: 1d, cache_ttl: 1w}\n  - {name: b, api_key_env: K, timeout: 1h30m}\n"), "", flags())
	if err != nil {
		t.Fatal(err)
	}
	if accts[0].Timeout != 24*time.Hour || accts[0].CacheTTL != 7*24*time.Hour || accts[1].Timeout != 90*time.Minute {
		t.Errorf("timeout %v, cache_ttl %v, %v", accts[0].Timeout, accts[0].CacheTTL, accts[1].Timeout)
	}
}

// TestClientKeyIgnoresLayout: comments, quoting and flow style leave the
// HTTP client settings the same; a changed secret does not.
func TestClientKeyIgnoresLayout(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	key := func(hc string) string {
		accts, _, err := Accounts(write(t, "accounts:\n  - name: a\n    api_key_env: K\n    http_client_config:"+hc+"\n"), "", flags())
		if err != nil {
			t.Fatal(err)
		}
		return accts[0].ClientKey
	}
	block := key("\n      basic_auth:\n        username: u # who\n        password: one\n")
	if flow := key(` {basic_auth: {password: "one", username: u}}`); flow != block {
		t.Errorf("the same settings written otherwise differ:\n%s\n%s", block, flow)
	}
	if other := key(" {basic_auth: {username: u, password: two}}"); other == block {
		t.Error("a changed password left the settings the same")
	}
}

// TestLoadErrors: each mistake is one line in the user's words: the file,
// the line, the entry and the field, and no Go type or YAML library talk.
func TestLoadErrors(t *testing.T) {
	const a = "accounts:\n  - name: a\n    api_key_env: K\n"
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":                  {"accounts:\n  - name: a\n    api_keyfile: /k\n", `sunor.yml:3: accounts[0] (a): unknown field "api_keyfile" (did you mean "api_key_file"?)`},
		"flag-only ca_file":              {a + "    ca_file: /etc/ca.pem\n", `sunor.yml:4: accounts[0] (a): "ca_file" is set by --sunor.ca-file; in the file, http_client_config: {tls_config: {ca_file: ...}}`},
		"flag-only max_concurrent_calls": {"defaults:\n  max-concurrent-calls: 4\n" + a, `sunor.yml:2: defaults: "max-concurrent-calls" is set by --sunor.max-concurrent-calls, for the whole exporter`},
		"flag-only at the top":           {"timeout_offset: 1s\n" + a, `sunor.yml:1: "timeout_offset" is set by --sunor.timeout-offset, for the whole exporter`},
		"key directory in an entry":      {a + "    api_key_directory: /k\n", `sunor.yml:4: accounts[0] (a): "api_key_directory" is set by --sunor.api-key-directory; in the file, api_key_directory: at the top level`},
		"unknown field, no guess":        {a + "    colour: red\n", `sunor.yml:4: accounts[0] (a): unknown field "colour"`},
		"unknown nested field":           {a + "    http_client_config:\n      tls_config: {ca_fle: x}\n", `sunor.yml:5: accounts[0] (a): http_client_config.tls_config: unknown field "ca_fle" (did you mean "ca_file"?)`},
		"unknown top-level field":        {"acounts: []\n", `sunor.yml:1: unknown field "acounts" (did you mean "accounts"?)`},
		"unknown defaults field":         {"defaults: {timout: 1s}\n" + a, `sunor.yml:1: defaults: unknown field "timout" (did you mean "timeout"?)`},
		"key in defaults":                {"defaults:\n  api_key_env: K\n" + a, "sunor.yml:2: defaults: api_key_env: each account has its own"},
		"bad defaults value":             {"defaults:\n  timeout: 0s\n" + a, "sunor.yml:2: defaults: timeout: must be positive, got 0s"},
		"wrong type: duration":           {a + "    timeout: fast\n", `sunor.yml:4: accounts[0] (a): timeout: wants a duration such as 5s or 1m30s, got "fast"`},
		"wrong type: number":             {a + "    max_calls_per_minute: twelve\n", `sunor.yml:4: accounts[0] (a): max_calls_per_minute: wants a whole number such as 12, got "twelve"`},
		"bad number":                     {a + "    rate_limit_reserve: 1.5\n", `sunor.yml:4: accounts[0] (a): rate_limit_reserve: wants a whole number such as 12, got "1.5"`},
		"wrong type: bool":               {a + "    http_client_config: {follow_redirects: maybe}\n", `sunor.yml:4: accounts[0] (a): http_client_config.follow_redirects: wants true or false, got "maybe"`},
		"list for a value":               {a + "    url: [a, b]\n", "sunor.yml:4: accounts[0] (a): url: wants a single value, got a list"},
		"value for a mapping":            {a + "    http_client_config: yes\n", `sunor.yml:4: accounts[0] (a): http_client_config: wants a mapping (name: value lines), got "yes"`},
		"entry not a mapping":            {"accounts:\n  - a\n", `sunor.yml:2: accounts[0]: wants a mapping (name: value lines), got "a"`},
		"accounts not a list":            {"accounts: a\n", `sunor.yml:1: accounts: wants a list (- item lines), got "a"`},
		"anchor in itself":               {"defaults: &d {<<: *d}\naccounts: []\n", "sunor.yml:1: defaults: anchor 'd' value contains itself"},
		"key not a name":                 {a + "    labels: {? [x]: y}\n", "sunor.yml:4: accounts[0] (a): labels: wants a name before the colon, got a list"},
		"label twice":                    {a + "    labels:\n      team: x\n      team: y\n", "sunor.yml:6: accounts[0] (a): labels.team: given twice (first on line 5)"},
		"field twice":                    {a + "    timeout: 1s\n    timeout: 2s\n", "sunor.yml:5: accounts[0] (a): timeout: given twice (first on line 4)"},
		"tab":                            {"accounts:\n\t- name: a\n", "sunor.yml:2: a tab in the indentation: YAML is indented with spaces only"},
		"tab in an entry":                {a + "\ttimeout: 1s\n", "sunor.yml:4: a tab in the indentation: YAML is indented with spaces only"},
		"tab after spaces in an entry":   {a + "    \ttimeout: 1s\n", "sunor.yml:4: a tab in the indentation: YAML is indented with spaces only"},
		"tab at an entry's start":        {"accounts:\n  - name: a\n\tapi_key_env: K\n", "sunor.yml:3: a tab in the indentation: YAML is indented with spaces only"},
		"tab in labels":                  {a + "    labels:\n\t  team: x\n", "sunor.yml:5: a tab in the indentation: YAML is indented with spaces only"},
		"syntax":                         {"accounts: [\n", "sunor.yml:1: not valid YAML: did not find expected node content"},
		"not UTF-8":                      {"accounts:\n  - name: a\xff\n", "sunor.yml:2: not UTF-8 text"},
		"duplicate name":                 {a + "  - name: a\n    api_key_env: L\n", `sunor.yml:4: accounts[1] (a): name: "a" is already the name of accounts[0]`},
		"no name":                        {"accounts:\n  - api_key_env: K\n", "sunor.yml:2: accounts[0]: name: the account name (label value) must be non-empty"},
		"name with spaces":               {"accounts:\n  - name: ' a '\n    api_key_env: K\n", "sunor.yml:2: accounts[0] ( a ): name: the account name (label value) must be non-empty UTF-8, without control characters"},
		"name with NUL":                  {"accounts:\n  - name: \"a\\0b\"\n    api_key_env: K\n", `sunor.yml:2: accounts[0] (a\x00b): name: the account name (label value) must be non-empty UTF-8, without control characters`},
		"name with a newline":            {"accounts:\n  - name: \"a\\nb\"\n    api_key_env: K\n", `sunor.yml:2: accounts[0] (a\nb): name: the account name (label value) must be non-empty UTF-8, without control characters`},
		"name with a direction override": {"accounts:\n  - name: \"prod\\u202eved\"\n    api_key_env: K\n", "name: the account name (label value) must be non-empty UTF-8, without control characters (NUL, tab, newline), invisible ones"},
		"label zero-width":               {a + "    labels: {team: \"\\u200b\"}\n", `labels.team: the value of "team" must be non-empty UTF-8, without control characters, invisible ones`},
		"no key":                         {"accounts:\n  - name: a\n", "sunor.yml:2: accounts[0] (a): api_key_file: set api_key_file or api_key_env"},
		"two keys":                       {a + "    api_key_file: /k\n", "sunor.yml:3: accounts[0] (a): api_key_env: set api_key_file or api_key_env, not both"},
		"key in api_key_env":             {"accounts:\n  - name: a\n    api_key_env: sk-live-0123456789abcdef\n", "sunor.yml:3: accounts[0] (a): api_key_env: is not the name of an environment variable"},
		"zero timeout":                   {a + "    timeout: 0s\n", "sunor.yml:4: accounts[0] (a): timeout: must be positive, got 0s"},
		"negative cache_ttl":             {a + "    cache_ttl: -1s\n", "sunor.yml:4: accounts[0] (a): cache_ttl: must not be negative, got -1s"},
		"negative calls a minute":        {a + "    max_calls_per_minute: -1\n", "sunor.yml:4: accounts[0] (a): max_calls_per_minute: must not be negative (0 is no ceiling), got -1"},
		"negative reserve":               {a + "    rate_limit_reserve: -5\n", "sunor.yml:4: accounts[0] (a): rate_limit_reserve: must not be negative, got -5"},
		"url without scheme":             {a + "    url: sunor.cc\n", `sunor.yml:4: accounts[0] (a): url: "sunor.cc" is not an http(s) URL (did you mean "https://sunor.cc"?)`},
		"loopback url without scheme":    {a + "    url: 127.0.0.1:46125\n", `sunor.yml:4: accounts[0] (a): url: "127.0.0.1:46125" is not an http(s) URL (did you mean "http://127.0.0.1:46125"?)`},
		"proxy twice":                    {a + "    http_client_config:\n      proxy_url: http://p:1\n      proxy_from_environment: true\n", "sunor.yml:5: accounts[0] (a): http_client_config: if proxy_from_environment is configured, proxy_url must not be configured"},
		"no accounts":                    {"accounts: []\n", "sunor.yml: no accounts"},
		"label name":                     {a + "    labels: {te-am: x}\n", `sunor.yml:4: accounts[0] (a): labels: "te-am" is not a label name`},
		"label job":                      {a + "    labels:\n      team: x\n      job: y\n", `sunor.yml:6: accounts[0] (a): labels.job: "job" is reserved`},
		"label account":                  {a + "    labels: {account: y}\n", `sunor.yml:4: accounts[0] (a): labels.account: "account" is reserved`},
		"label __":                       {a + "    labels: {__name__: y}\n", `sunor.yml:4: accounts[0] (a): labels.__name__: "__name__" is reserved`},
		"label empty value":              {a + "    labels: {team: ''}\n", `sunor.yml:4: accounts[0] (a): labels.team: the value of "team" must be non-empty`},
		"label in defaults":              {"defaults:\n  labels: {instance: x}\n" + a, `sunor.yml:2: defaults: labels.instance: "instance" is reserved`},
		"labels not a mapping":           {a + "    labels: [team]\n", "sunor.yml:4: accounts[0] (a): labels: wants a mapping (name: value lines), got a list"},
		"negative threshold":             {a + "    low_credits_threshold: -1\n", "sunor.yml:4: accounts[0] (a): low_credits_threshold: must not be negative, got -1"},
		"threshold not a number":         {a + "    low_credits_threshold: lots\n", `sunor.yml:4: accounts[0] (a): low_credits_threshold: wants a number such as 500, got "lots"`},
		"33 labels":                      {a + "    labels: {" + manyLabels(33) + "}\n", "sunor.yml:4: accounts[0] (a): labels: 33 labels; at most 32"},
		"labels over 256 bytes":          {a + "    labels: {a: " + strings.Repeat("x", 127) + ", b: " + strings.Repeat("y", 128) + "}\n", "sunor.yml:4: accounts[0] (a): labels: names and values of 257 bytes in all; at most 256"},
		"labels over 256 bytes, layered": {"defaults:\n  labels: {a: " + strings.Repeat("x", 127) + "}\naccounts:\n  - name: a\n    api_key_env: K\n    labels: {b: " + strings.Repeat("y", 128) + "}\n", "sunor.yml:6: accounts[0] (a): labels: names and values of 257 bytes in all; at most 256"},
		"long label value":               {a + "    labels: {team: " + strings.Repeat("x", 129) + "}\n", "sunor.yml:4: accounts[0] (a): labels: a label name or value longer than 128 bytes"},
		"long name":                      {"accounts:\n  - name: " + strings.Repeat("n", 129) + "\n    api_key_env: K\n", "name: the account name is longer than 128 bytes"},
		"url with a query":               {a + "    url: https://sunor.cc/?token=s3cr3t\n", "sunor.yml:4: accounts[0] (a): url: must be a base URL without ?query or #fragment (the value is not shown"},
		"negative budget":                {a + "    daily_budget: -1\n", "sunor.yml:4: accounts[0] (a): daily_budget: must not be negative (0 is no budget), got -1"},
		"threshold NaN":                  {a + "    low_credits_threshold: .nan\n", "sunor.yml:4: accounts[0] (a): low_credits_threshold: must be a number, got NaN"},
		"empty file":                     {"", "sunor.yml: the file is empty"},
		"second document":                {a + "---\naccounts:\n  - name: b\n    api_key_env: K\n", "sunor.yml:4: a second YAML document (after ---): put every account in the one accounts: list"},
		"bad second document":            {a + "---\n: [\n", "not valid YAML: did not find expected key"},
		"url password, no scheme":        {a + "    url: user:sk-live-0123456789@sunor.cc\n", "sunor.yml:4: accounts[0] (a): url: not an http(s) URL with a host, such as https://sunor.cc; the value is not shown"},
		"url password, scheme mistyped":  {a + "    url: https:/user:sk-live-0123456789@sunor.cc\n", "sunor.yml:4: accounts[0] (a): url: not an http(s) URL with a host"},
		"key in defaults, merged":        {"defaults:\n  <<: {api_key_env: K}\naccounts:\n  - name: a\n", "sunor.yml:2: defaults: api_key_env: each account has its own"},
		"merge of a value":               {"accounts:\n  - name: a\n    api_key_env: K\n    <<: [x]\n", `sunor.yml:4: accounts[0] (a): wants a mapping (name: value lines), got "x"`},
		"quoted merge key":               {a + "    '<<': {timeout: 1s}\n", `sunor.yml:4: accounts[0] (a): unknown field "<<"`},
		"header setting mistyped":        {a + "    http_client_config:\n      http_headers:\n        X-Test: {valuez: [a]}\n", `sunor.yml:6: accounts[0] (a): http_client_config.http_headers.X-Test: unknown field "valuez" (did you mean "values"?)`},
		"header not a mapping":           {a + "    http_client_config:\n      http_headers:\n        X-Test: a\n", `sunor.yml:6: accounts[0] (a): http_client_config.http_headers.X-Test: wants a mapping (name: value lines), got "a"`},
		"proxy URL password":             {a + "    http_client_config:\n      proxy_url: 'http://u:sk-live-0123456789@[::1'\n", "sunor.yml:5: accounts[0] (a): http_client_config.proxy_url: missing ']' in host"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvAPIKey, "")
			_, _, err := Accounts(write(t, tc.yaml), "", flags())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			for _, word := range []string{"\n", " config.", "!!", "yaml:", "unmarshal", "in type", "sk-live"} {
				if strings.Contains(err.Error(), word) {
					t.Errorf("err = %q holds %q", err, word)
				}
			}
		})
	}
	if _, _, err := Accounts(filepath.Join(t.TempDir(), "missing.yml"), "", flags()); err == nil || !strings.Contains(err.Error(), "missing.yml") || !strings.HasPrefix(err.Error(), "--config.file: ") {
		t.Errorf("missing file: %v", err)
	}
	// An empty document after the accounts (a trailing ---) drops nothing.
	if _, _, err := Accounts(write(t, a+"---\n"), "", flags()); err != nil {
		t.Errorf("a trailing ---: %v", err)
	}
}

// TestNotAnAccountsFile: what is not a regular file, or is far too large
// for one, is refused at once: reading a named pipe or /dev/zero would hang
// the start, or a reload, for ever or fill the memory.
func TestNotAnAccountsFile(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yml")
	if err := os.WriteFile(huge, []byte("accounts: []\n#"+strings.Repeat("x", MaxFileBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		dir:        dir + " is a directory, not a regular file",
		os.DevNull: os.DevNull + " is a device, not a regular file",
		huge:       huge + ": larger than 4 MiB",
	} {
		done := make(chan error, 1)
		go func() { _, _, err := Accounts(path, "", flags()); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Accounts has not returned after 10s", path)
		}
	}
}

// TestFlagErrors: the flags go through the same checks, and their errors
// name the flag.
func TestFlagErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		set  func(*Account)
		want string
	}{
		"zero timeout":             {func(a *Account) { a.Timeout = 0 }, "--sunor.timeout: must be positive, got 0s"},
		"negative cache":           {func(a *Account) { a.CacheTTL = -time.Second }, "--sunor.cache-ttl: must not be negative, got -1s"},
		"url without scheme":       {func(a *Account) { a.URL = "sunor.cc" }, `--sunor.url: "sunor.cc" is not an http(s) URL (did you mean "https://sunor.cc"?)`},
		"loopback without scheme":  {func(a *Account) { a.URL = "127.0.0.1:46125" }, `--sunor.url: "127.0.0.1:46125" is not an http(s) URL (did you mean "http://127.0.0.1:46125"?)`},
		"localhost without scheme": {func(a *Account) { a.URL = "localhost:46125" }, `--sunor.url: "localhost:46125" is not an http(s) URL (did you mean "http://localhost:46125"?)`},
		"IPv6 loopback":            {func(a *Account) { a.URL = "[::1]:8080/api" }, `--sunor.url: "[::1]:8080/api" is not an http(s) URL (did you mean "http://[::1]:8080/api"?)`},
		"host:port without scheme": {func(a *Account) { a.URL = "api.internal:8080" }, `--sunor.url: "api.internal:8080" is not an http(s) URL (did you mean "http://api.internal:8080"?)`},
		"host:443 without scheme":  {func(a *Account) { a.URL = "sunor.cc:443" }, `--sunor.url: "sunor.cc:443" is not an http(s) URL (did you mean "https://sunor.cc:443"?)`},
		"host/path without scheme": {func(a *Account) { a.URL = "sunor.cc/v2" }, `--sunor.url: "sunor.cc/v2" is not an http(s) URL (did you mean "https://sunor.cc/v2"?)`},
		"name with a tab":          {func(a *Account) { a.Name = "a\tb" }, "--sunor.account: the account name (label value) must be non-empty UTF-8, without control characters"},
		"reserved label":           {func(a *Account) { a.Labels = map[string]string{"reason": "x"} }, `--sunor.label: "reason" is reserved`},
		"negative threshold":       {func(a *Account) { a.LowCreditsThreshold = -1 }, "--sunor.low-credits-threshold: must not be negative, got -1"},
		"negative budget":          {func(a *Account) { a.DailyBudget = -1 }, "--sunor.daily-budget: must not be negative (0 is no budget), got -1"},
		"histogram's le":           {func(a *Account) { a.Labels = map[string]string{"le": "x"} }, `--sunor.label: "le" is reserved`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvAPIKey, "k")
			f := flags()
			tc.set(&f)
			if _, _, err := Accounts("", "", f); err == nil || err.Error() != tc.want && !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestNoSchemeSuggestedForSecrets: what may hold a password gets no
// suggestion, which would show it.
func TestNoSchemeSuggestedForSecrets(t *testing.T) {
	t.Setenv(EnvAPIKey, "k")
	for _, u := range []string{"user:secret", "user:secret@sunor.cc", "sunor.cc:s3cr3t/x"} {
		f := flags()
		f.URL = u
		if _, _, err := Accounts("", "", f); err == nil || strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestAnchorsAndMergeKeys: YAML's own way of sharing settings still works.
func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	accts, _, err := Accounts(write(t, "accounts:\n  - &a {name: a, api_key_env: K, timeout: 3s, labels: &l {team: x}}\n  - <<: *a\n    name: b\n    labels: *l\n"), "", flags())
	if err != nil {
		t.Fatal(err)
	}
	if b := accts[1]; b.Name != "b" || b.Timeout != 3*time.Second || b.APIKeyEnv != "K" || b.Labels["team"] != "x" {
		t.Errorf("b = %+v", b)
	}
	if _, _, err := Accounts(write(t, "accounts:\n  - &a {name: a, api_key_env: K}\n  - <<: *a\n    name: b\n    timout: 1s\n"), "", flags()); err == nil || !strings.Contains(err.Error(), `sunor.yml:5: accounts[1] (b): unknown field "timout"`) {
		t.Errorf("a typo next to a merge key: %v", err)
	}
}

// TestOnePath: single-account mode is the one-entry file it stands for.
func TestOnePath(t *testing.T) {
	t.Setenv(EnvAPIKey, "k")
	f := flags()
	f.Labels, f.DailyBudget = map[string]string{"team": "music"}, 100
	single, _, err := Accounts("", "", f)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvAPIKey, "")
	f.Labels = nil
	file, _, err := Accounts(write(t, "defaults: {labels: {team: music}}\naccounts: [{name: default, api_key_env: SUNOR_API_KEY}]\n"), "", f)
	if err != nil {
		t.Fatal(err)
	}
	single[0].entry, file[0].entry, file[0].defaults = place{}, place{}, place{}
	if !reflect.DeepEqual(single, file) {
		t.Errorf("flags: %+v\nfile:  %+v", single[0], file[0])
	}
}

// TestDirectory: a key directory's accounts take the flags under defaults:.
func TestDirectory(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	accts, d, err := Accounts(write(t, "api_key_directory: /run/keys\ndefaults: {timeout: 3s}\n"), "", flags())
	if err != nil || len(accts) != 0 || d.Path != "/run/keys" || d.Settings.Timeout != 3*time.Second || !strings.HasSuffix(d.Where, "sunor.yml:1: api_key_directory") {
		t.Errorf("%v %+v %v", accts, d, err)
	}
	if accts, d, err := Accounts("", "/run/keys", flags()); err != nil || len(accts) != 0 || d.Path != "/run/keys" || d.Where != "--sunor.api-key-directory" {
		t.Errorf("from the flag: %v %+v %v", accts, d, err)
	}
	if _, _, err := Accounts(write(t, "api_key_dir: /run/keys\n"), "", flags()); err == nil || !strings.Contains(err.Error(), `(did you mean "api_key_directory"?)`) {
		t.Errorf("a typo: %v", err)
	}
	// Two directories: neither is dropped without a word.
	if _, _, err := Accounts(write(t, "api_key_directory: /run/keys\n"), "/other/keys", flags()); err == nil || !strings.Contains(err.Error(), "sunor.yml:1: api_key_directory: --sunor.api-key-directory (or SUNOR_API_KEY_DIRECTORY) is set too; set one") {
		t.Errorf("the flag and the file: %v", err)
	}
}

// FuzzAccounts: whatever the file holds, loading it ends, without a
// panic, in accounts or in one line.
func FuzzAccounts(f *testing.F) {
	for _, seed := range []string{
		"accounts:\n  - name: a\n    api_key_env: K\n    labels: {team: x}\n",
		"defaults: &d {timeout: 1s, <<: *d}\naccounts: [{name: a, api_key_file: /k, http_client_config: {tls_config: {ca_file: x}}}]\n",
		"accounts:\n  - {name: a, api_key_env: K, labels: {? [x]: y}}\n",
		"api_key_directory: /k\naccounts:\n\t- a\n",
		"accounts:\n  - name: a\n    api_key_env: K\n    http_client_config: {http_headers: &h {<<: *h}}\n",
		// A billion laughs: each alias is checked once, not once a use.
		"defaults:\n  http_client_config:\n    x: &a [x, x, x, x, x, x, x, x, x]\n    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\naccounts: [{name: a, api_key_env: K, labels: {t: *g}}]\n",
	} {
		f.Add(seed)
	}
	p := filepath.Join(f.TempDir(), "sunor.yml")
	f.Fuzz(func(t *testing.T, content string) {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Accounts(p, "", flags()); err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("more than one line: %q", err)
		}
	})
}

// manyLabels is n labels in flow style: l0: v, l1: v, ...
func manyLabels(n int) string {
	var b []string
	for i := range n {
		b = append(b, fmt.Sprintf("l%d: v", i))
	}
	return strings.Join(b, ", ")
}

// TestHTTPHeaders: http_client_config.http_headers, a map of header names
// to their settings in prometheus/common, is taken, any header name.
func TestHTTPHeaders(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	accts, _, err := Accounts(write(t, `accounts:
  - name: a
    api_key_env: K
    http_client_config:
      http_headers:
        X-Test: {values: [one]}
        X-Other:
          secrets: [two]
`), "", flags())
	if err != nil {
		t.Fatal(err)
	}
	h := accts[0].HTTPClientConfig.HTTPHeaders
	if h == nil || !slices.Equal(h.Headers["X-Test"].Values, []string{"one"}) || len(h.Headers["X-Other"].Secrets) != 1 {
		t.Errorf("headers %+v", h)
	}
}

// TestBounds: the most accounts, the largest file and the most owner
// labels' bytes an account are taken; one more is refused (TestLoadErrors).
func TestBounds(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	entries := func(n int) string {
		var b strings.Builder
		b.WriteString("accounts:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {name: a%d, api_key_env: K}\n", i)
		}
		return b.String()
	}
	if accts, _, err := Accounts(write(t, entries(MaxAccounts)), "", flags()); err != nil || len(accts) != MaxAccounts {
		t.Errorf("%d accounts: %d, %v", MaxAccounts, len(accts), err)
	}
	want := fmt.Sprintf("sunor.yml:%d: accounts[%d]: %d accounts; at most %d", MaxAccounts+2, MaxAccounts, MaxAccounts+1, MaxAccounts)
	if _, _, err := Accounts(write(t, entries(MaxAccounts+1)), "", flags()); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("%d accounts: %v, want %q", MaxAccounts+1, err, want)
	}
	full := "accounts: [{name: a, api_key_env: K, labels: {a: " + strings.Repeat("x", 127) + ", b: " + strings.Repeat("y", 127) + "}}]\n#"
	full += strings.Repeat("x", MaxFileBytes-len(full))
	if accts, _, err := Accounts(write(t, full), "", flags()); err != nil || labelBytes(accts[0].Labels) != MaxLabelBytes {
		t.Errorf("a file of %d bytes, labels of %d: %v", len(full), MaxLabelBytes, err)
	}
}
