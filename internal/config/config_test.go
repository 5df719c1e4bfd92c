package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var defaults = Defaults{URL: "https://sunor.cc", Timeout: 10 * time.Second, CacheTTL: 30 * time.Second}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sunor.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadExample(t *testing.T) {
	p := write(t, `accounts:
  - name: prod
    api_key_file: /run/secrets/sunor-prod
  - name: staging
    api_key_env: SUNOR_STAGING_KEY
    url: https://staging.sunor.cc
    timeout: 5s
    cache_ttl: 0s
    http_client_config:
      tls_config:
        ca_file: /etc/ssl/ca.pem
      proxy_url: http://proxy:3128
`)
	f, err := Load(p, defaults)
	if err != nil {
		t.Fatal(err)
	}
	prod, staging := f.Accounts[0], f.Accounts[1]
	if prod.URL != "https://sunor.cc" || time.Duration(prod.Timeout) != 10*time.Second || time.Duration(prod.CacheTTL) != 30*time.Second {
		t.Errorf("prod did not take the defaults: %+v", prod)
	}
	if !prod.HTTPClientConfig.ProxyFromEnvironment {
		t.Error("prod: proxies should come from the environment by default")
	}
	if staging.URL != "https://staging.sunor.cc" || time.Duration(staging.Timeout) != 5*time.Second || staging.CacheTTL != 0 {
		t.Errorf("staging lost its own settings: %+v", staging)
	}
	if staging.HTTPClientConfig.TLSConfig.CAFile != "/etc/ssl/ca.pem" || staging.HTTPClientConfig.ProxyURL.String() != "http://proxy:3128" || staging.HTTPClientConfig.ProxyFromEnvironment {
		t.Errorf("staging HTTP client settings: %+v", staging.HTTPClientConfig)
	}
	if err := staging.Errorf("api_key_env", "is not set"); !strings.Contains(err.Error(), "sunor.yml:5: accounts[1] (staging): api_key_env: is not set") {
		t.Errorf("Errorf = %v", err)
	}
}

// TestLoadErrors: each mistake is reported with its line and field.
func TestLoadErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":        {"accounts:\n  - name: a\n    api_key_env: K\n    colour: red\n", "line 4: field colour not found"},
		"unknown nested field": {"accounts:\n  - name: a\n    api_key_env: K\n    http_client_config:\n      bogus: 1\n", "line 5: field bogus not found in type http_client_config"},
		"duplicate name":       {"accounts:\n  - name: a\n    api_key_env: K\n  - name: a\n    api_key_env: L\n", `:4: accounts[1] (a): name: "a" is already the name of accounts[0]`},
		"no name":              {"accounts:\n  - api_key_env: K\n", ":2: accounts[0] (): name: every account needs a name"},
		"no key":               {"accounts:\n  - name: a\n", "accounts[0] (a): api_key_file: set api_key_file or api_key_env"},
		"two keys":             {"accounts:\n  - name: a\n    api_key_env: K\n    api_key_file: /k\n", ":3: accounts[0] (a): api_key_env: set api_key_file or api_key_env, not both"},
		"bad timeout":          {"accounts:\n  - name: a\n    api_key_env: K\n    timeout: soon\n", `line 4: "soon" is not a duration`},
		"negative timeout":     {"accounts:\n  - name: a\n    api_key_env: K\n    timeout: -1s\n", "line 4"},
		// The flag refuses 0s; the file must not turn it into the default.
		"zero timeout":            {"accounts:\n  - name: a\n    api_key_env: K\n    timeout: 0s\n", ":4: accounts[0] (a): timeout: must be positive, got 0s"},
		"negative cache_ttl":      {"accounts:\n  - name: a\n    api_key_env: K\n    cache_ttl: -1s\n", "line 4"},
		"negative calls a minute": {"accounts:\n  - name: a\n    api_key_env: K\n    max_calls_per_minute: -1\n", ":4: accounts[0] (a): max_calls_per_minute: must not be negative"},
		"negative reserve":        {"accounts:\n  - name: a\n    api_key_env: K\n    rate_limit_reserve: -5\n", ":4: accounts[0] (a): rate_limit_reserve: must not be negative"},
		"proxy twice":             {"accounts:\n  - name: a\n    api_key_env: K\n    http_client_config:\n      proxy_url: http://p:1\n      proxy_from_environment: true\n", ":5: accounts[0] (a): http_client_config: if proxy_from_environment is configured"},
		"no accounts":             {"accounts: []\n", "no accounts"},
		"empty file":              {"", "the file is empty"},
		"not yaml":                {"accounts: [\n", "sunor.yml"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tc.yaml), defaults)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "sunor.yml") {
				t.Errorf("err = %v does not name the file", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yml"), defaults); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("missing file: %v", err)
	}
}
