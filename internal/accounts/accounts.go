// Package accounts turns the command line, or the accounts file of
// --config.file, into the collector's accounts: it loads each key, checks
// each URL and builds each HTTP client. Everything start-up can check is
// checked here, so that --config.check and a reload check the same things.
package accounts

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commoncfg "github.com/prometheus/common/config"
	yaml "go.yaml.in/yaml/v3"

	"github.com/sunor-community/sunor_exporter/collector"
	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// EnvAPIKey holds the key itself in single-account mode. There is no flag
// for it: a flag's value shows in ps.
const EnvAPIKey = "SUNOR_API_KEY"

// Spec is what the command line says.
type Spec struct {
	ConfigFile string // --config.file; the rest are its defaults when set

	URL      string        // --sunor.url
	Timeout  time.Duration // --sunor.timeout
	CacheTTL time.Duration // --sunor.cache-ttl
	CAFile   string        // --sunor.ca-file

	// Single-account mode only.
	Account   string // --sunor.account
	KeyFile   string // --sunor.api-key-file / SUNOR_API_KEY_FILE
	KeyEnv    string // the value of SUNOR_API_KEY
	UserAgent string
}

// Build returns the accounts to export.
func Build(s Spec, logger log.Logger) ([]collector.Account, error) {
	if s.ConfigFile == "" {
		a, err := single(s, logger)
		if err != nil {
			return nil, err
		}
		return []collector.Account{a}, nil
	}
	if s.KeyFile != "" || s.KeyEnv != "" {
		return nil, fmt.Errorf("--sunor.api-key-file, SUNOR_API_KEY_FILE and %s cannot be used with --config.file: give each account's api_key_file or api_key_env in %s", EnvAPIKey, s.ConfigFile)
	}
	f, err := config.Load(s.ConfigFile, config.Defaults{URL: s.URL, Timeout: s.Timeout, CacheTTL: s.CacheTTL})
	if err != nil {
		return nil, err
	}
	var out []collector.Account
	for i := range f.Accounts {
		a, err := fromFile(&f.Accounts[i], s, logger)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func single(s Spec, logger log.Logger) (collector.Account, error) {
	base, err := sunor.ParseBaseURL(s.URL)
	if err != nil {
		return collector.Account{}, fmt.Errorf("--sunor.url: %w", err)
	}
	var key apikey.Source
	switch {
	case s.KeyFile != "" && s.KeyEnv != "":
		return collector.Account{}, fmt.Errorf("both --sunor.api-key-file (or SUNOR_API_KEY_FILE) and %s are set; set one", EnvAPIKey)
	case s.KeyFile != "":
		key, err = apikey.NewFile(s.KeyFile, logger)
	case s.KeyEnv != "":
		key, err = apikey.FromEnv(EnvAPIKey, s.KeyEnv)
	default:
		err = fmt.Errorf("no API key: set --sunor.api-key-file (or SUNOR_API_KEY_FILE), %s, or use --config.file", EnvAPIKey)
	}
	if err != nil {
		return collector.Account{}, err
	}
	hc := commoncfg.DefaultHTTPClientConfig
	hc.ProxyFromEnvironment = true
	hc.TLSConfig.CAFile = s.CAFile
	client, err := NewClient(base, key, hc, s.UserAgent)
	if err != nil {
		return collector.Account{}, fmt.Errorf("--sunor.ca-file or proxy settings: %w", err)
	}
	warnPlainHTTP(logger, s.Account, base)
	return collector.Account{Name: s.Account, API: client, Timeout: s.Timeout, CacheTTL: s.CacheTTL}, nil
}

func fromFile(a *config.Account, s Spec, logger log.Logger) (collector.Account, error) {
	base, err := sunor.ParseBaseURL(a.URL)
	if err != nil {
		return collector.Account{}, a.Errorf("url", "%v", err)
	}
	var key apikey.Source
	if a.APIKeyFile != "" {
		if key, err = apikey.NewFile(a.APIKeyFile, log.With(logger, "account", a.Name)); err != nil {
			return collector.Account{}, a.Errorf("api_key_file", "%v", err)
		}
	} else {
		v, set := os.LookupEnv(a.APIKeyEnv)
		if !set {
			return collector.Account{}, a.Errorf("api_key_env", "environment variable %s is not set", a.APIKeyEnv)
		}
		if key, err = apikey.FromEnv(a.APIKeyEnv, v); err != nil {
			return collector.Account{}, a.Errorf("api_key_env", "%v", err)
		}
	}
	client, err := NewClient(base, key, a.HTTPClientConfig, s.UserAgent)
	if err != nil {
		return collector.Account{}, a.Errorf("http_client_config", "%v", err)
	}
	warnPlainHTTP(logger, a.Name, base)
	return collector.Account{
		Name: a.Name, API: client, Timeout: time.Duration(a.Timeout), CacheTTL: time.Duration(a.CacheTTL),
		Identity: identity(a),
	}, nil
}

// identity is what an account was built from, for telling on a reload
// whether it changed. The key itself is not part of it: a key file is
// re-read by the account when its content changes.
func identity(a *config.Account) string {
	b, err := yaml.Marshal(a)
	if err != nil {
		return ""
	}
	return string(b)
}

// NewClient builds a Sunor client whose HTTP client comes from
// prometheus/common's config (TLS, CA, proxy). Redirects are off whatever
// hc says: sunor.NewClient refuses them.
func NewClient(base *url.URL, key apikey.Source, hc commoncfg.HTTPClientConfig, userAgent string) (*sunor.Client, error) {
	hc.FollowRedirects = false
	if err := hc.Validate(); err != nil {
		return nil, err
	}
	c, err := commoncfg.NewClientFromConfig(hc, "sunor", commoncfg.WithUserAgent(userAgent))
	if err != nil {
		return nil, err
	}
	return sunor.NewClient(base, c, key.Key), nil
}

func warnPlainHTTP(logger log.Logger, account string, base *url.URL) {
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		_ = level.Warn(logger).Log("msg", "API URL is plain http: the key crosses the network unencrypted", "account", account, "url", base.String())
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
