// Package config reads the accounts file given by --config.file:
//
//	accounts:
//	  - name: prod
//	    api_key_file: /run/secrets/sunor-prod
//	  - name: staging
//	    api_key_env: SUNOR_STAGING_KEY
//	    url: https://sunor.cc
//	    timeout: 5s
//	    cache_ttl: 30s
//	    max_calls_per_minute: 12 # the exporter's ceiling on this key's budget
//	    rate_limit_reserve: 10   # step aside when so few requests are left
//	    http_client_config:      # prometheus/common's HTTP client settings
//	      tls_config: {ca_file: /etc/ssl/private-ca.pem}
//	      proxy_url: http://proxy:3128
//
// It checks the file's shape (unknown fields, duplicate names, one key
// source per account) and reports each problem with its line and field.
// Whether the keys can be read is checked by whoever builds the accounts,
// with Account.Errorf to point at the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v3"
)

// File is the whole accounts file.
type File struct {
	Accounts []Account `yaml:"accounts"`
}

// Account is one entry of the file.
type Account struct {
	Name       string   `yaml:"name"`
	APIKeyFile string   `yaml:"api_key_file"`
	APIKeyEnv  string   `yaml:"api_key_env"`
	URL        string   `yaml:"url"`
	Timeout    Duration `yaml:"timeout"`
	CacheTTL   Duration `yaml:"cache_ttl"`
	// MaxCallsPerMinute and RateLimitReserve guard the key's request
	// budget, which the exporter shares with the user's product.
	MaxCallsPerMinute int `yaml:"max_calls_per_minute"`
	RateLimitReserve  int `yaml:"rate_limit_reserve"`
	// HTTPClientConfig carries TLS, CA and proxy settings. Redirects are
	// never followed, whatever follow_redirects says: the key must not
	// travel to another host.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:"http_client_config"`

	// Source is the entry as written, secrets included: a reload that
	// changes anything in it, a password too, rebuilds the account.
	Source string `yaml:"-"`
	// HTTPClientSource is http_client_config as written: accounts whose
	// settings read the same share one HTTP client.
	HTTPClientSource string `yaml:"-"`

	path  string
	index int
	lines map[string]int // field (dotted for nested ones) -> line
}

// Duration is a duration such as "5s" or "1m" whose errors say their line.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 5s or 1m30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Defaults fill in what an account leaves out: the --sunor.* flags.
type Defaults struct {
	URL               string
	Timeout           time.Duration
	CacheTTL          time.Duration
	MaxCallsPerMinute int
	RateLimitReserve  int
}

// Errorf returns an error about field of this account that says where it is:
// "sunor.yml:7: accounts[1] (staging): api_key_env: ...".
func (a *Account) Errorf(field, format string, args ...any) error {
	line := a.lines[field]
	if line == 0 {
		line = a.lines[""]
	}
	return fmt.Errorf("%s:%d: accounts[%d] (%s): %s: %s", a.path, line, a.index, a.Name, field, fmt.Sprintf(format, args...))
}

// Load reads and checks path, and fills in defaults.
func Load(path string, d Defaults) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty; it needs an accounts: list", path)
		}
		if where := httpClientConfigError(&root, path); where != nil {
			return nil, where
		}
		return nil, fmt.Errorf("%s: %s", path, strings.ReplaceAll(err.Error(), "config.plain", "http_client_config"))
	}
	if len(f.Accounts) == 0 {
		return nil, fmt.Errorf("%s: no accounts: the file needs an accounts: list with at least one entry", path)
	}
	entries := accountEntries(&root)
	seen := map[string]int{}
	for i := range f.Accounts {
		a := &f.Accounts[i]
		a.path, a.index = path, i
		if i < len(entries) {
			a.lines = map[string]int{"": entries[i].Line}
			addLines(a.lines, "", entries[i])
			a.Source = nodeText(entries[i])
			if n := mapValue(entries[i], "http_client_config"); n != nil {
				a.HTTPClientSource = nodeText(n)
			}
		}
		if err := a.check(d, seen); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

func (a *Account) check(d Defaults, seen map[string]int) error {
	if strings.TrimSpace(a.Name) == "" {
		return a.Errorf("name", "every account needs a name (the account label)")
	}
	if first, dup := seen[a.Name]; dup {
		return a.Errorf("name", "%q is already the name of accounts[%d]", a.Name, first)
	}
	seen[a.Name] = a.index
	switch {
	case a.APIKeyFile == "" && a.APIKeyEnv == "":
		return a.Errorf("api_key_file", "set api_key_file or api_key_env")
	case a.APIKeyFile != "" && a.APIKeyEnv != "":
		return a.Errorf("api_key_env", "set api_key_file or api_key_env, not both")
	}
	if a.URL == "" {
		a.URL = d.URL
	}
	if _, set := a.lines["timeout"]; !set {
		a.Timeout = Duration(d.Timeout)
	}
	if a.Timeout <= 0 {
		return a.Errorf("timeout", "must be positive, got %s", time.Duration(a.Timeout))
	}
	if _, set := a.lines["cache_ttl"]; !set {
		a.CacheTTL = Duration(d.CacheTTL)
	}
	if a.CacheTTL < 0 {
		return a.Errorf("cache_ttl", "must not be negative")
	}
	if _, set := a.lines["max_calls_per_minute"]; !set {
		a.MaxCallsPerMinute = d.MaxCallsPerMinute
	}
	if a.MaxCallsPerMinute < 0 {
		return a.Errorf("max_calls_per_minute", "must not be negative (0 is no ceiling)")
	}
	if _, set := a.lines["rate_limit_reserve"]; !set {
		a.RateLimitReserve = d.RateLimitReserve
	}
	if a.RateLimitReserve < 0 {
		return a.Errorf("rate_limit_reserve", "must not be negative")
	}
	// Proxies from the environment, as with the flags, unless the entry
	// says otherwise.
	_, proxyURL := a.lines["http_client_config.proxy_url"]
	_, fromEnv := a.lines["http_client_config.proxy_from_environment"]
	if !proxyURL && !fromEnv {
		a.HTTPClientConfig.ProxyFromEnvironment = true
	}
	if err := a.HTTPClientConfig.Validate(); err != nil {
		return a.Errorf("http_client_config", "%v", err)
	}
	return nil
}

// httpClientConfigError finds the account whose http_client_config failed
// prometheus/common's own validation, which reports no line.
func httpClientConfigError(root *yaml.Node, path string) error {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	accounts := mapValue(root.Content[0], "accounts")
	if accounts == nil {
		return nil
	}
	for i, entry := range accounts.Content {
		n := mapValue(entry, "http_client_config")
		if n == nil {
			continue
		}
		var c commoncfg.HTTPClientConfig
		if err := n.Decode(&c); err != nil && !strings.Contains(err.Error(), "line ") {
			name := ""
			if v := mapValue(entry, "name"); v != nil {
				name = v.Value
			}
			return fmt.Errorf("%s:%d: accounts[%d] (%s): http_client_config: %v", path, n.Line, i, name, err)
		}
	}
	return nil
}

// accountEntries returns the nodes of the entries of accounts:.
func accountEntries(root *yaml.Node) []*yaml.Node {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	accounts := mapValue(root.Content[0], "accounts")
	if accounts == nil || accounts.Kind != yaml.SequenceNode {
		return nil
	}
	return accounts.Content
}

// nodeText is n as YAML, values as written (a secret is a plain string to
// the YAML layer), for telling one version of an entry from another.
func nodeText(n *yaml.Node) string {
	b, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return string(b)
}

func addLines(m map[string]int, prefix string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + n.Content[i].Value
		m[key] = n.Content[i].Line
		addLines(m, key+".", n.Content[i+1])
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
