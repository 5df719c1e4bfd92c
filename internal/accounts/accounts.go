// Package accounts turns the command line, or the accounts file of
// --config.file, into the accounts the collector scrapes: it loads each key,
// checks each URL and builds each HTTP client. Everything start-up can check
// is checked here, so that --config.check and a reload check the same
// things.
package accounts

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// EnvAPIKey holds the key itself in single-account mode. There is no flag
// for it: a flag's value shows in ps.
const EnvAPIKey = "SUNOR_API_KEY"

// IdleConnTimeout closes a pooled connection to the API that has not been
// used for this long. Long enough to be reused by the next scrape at the
// usual 15-60 s intervals, short enough that a thousand accounts do not keep
// connections open between scrapes (the cap on calls in flight bounds how
// many there are at once).
const IdleConnTimeout = 90 * time.Second

// API is what the collector needs of a Sunor client; *sunor.Client has it.
type API interface {
	Fetch(context.Context, sunor.Endpoint) ([]float64, sunor.RateLimit, error)
}

// Account is one Sunor account (one API key) to export.
type Account struct {
	Name     string        // the `account` label
	URL      string        // the API's base URL, for logs (never with credentials)
	API      API           // the client holding this account's key
	Timeout  time.Duration // the most one API call may take
	CacheTTL time.Duration // reuse a successful answer this long; 0 is off
	// MaxCallsPerMinute is the most calls the exporter makes with this key
	// in any minute, over all endpoints; 0 is no ceiling.
	MaxCallsPerMinute int
	// RateLimitReserve: when X-RateLimit-Remaining is at or below it, no
	// call until the window resets. The rest belongs to the user's product.
	RateLimitReserve int
	// Identity says what the account was built from (its entry in the
	// config file, secrets included). Across a reload, an account with the
	// same Name and a non-empty, equal Identity keeps its state: cache,
	// back-off, budget and the call in flight.
	Identity string

	// KeyID identifies the key without holding it (a keyed hash, with the
	// API's base URL): accounts with equal KeyIDs share one budget guard.
	// Empty: the account has a guard of its own.
	KeyID string
	// Labels are the owner labels (team, env, ...) added to every series
	// of the account.
	Labels map[string]string
	// LowCreditsThreshold is the balance, in credits, under which the
	// account counts as low (sunor_credits_low_threshold).
	LowCreditsThreshold float64
	// DailyBudget is how many credits a day the account may spend
	// (sunor_credits_daily_budget); 0 is no budget.
	DailyBudget float64
}

// Spec is what the command line says.
type Spec struct {
	ConfigFile string // --config.file; the rest are its defaults when set

	URL               string        // --sunor.url
	Timeout           time.Duration // --sunor.timeout
	CacheTTL          time.Duration // --sunor.cache-ttl
	CAFile            string        // --sunor.ca-file
	MaxCallsPerMinute int           // --sunor.max-calls-per-minute
	RateLimitReserve  int           // --sunor.rate-limit-reserve
	// MaxConns caps the connections each HTTP client keeps open to the API
	// at once (--sunor.max-concurrent-calls); 0 is no cap.
	MaxConns int

	// Single-account mode only.
	Account string // --sunor.account
	KeyFile string // --sunor.api-key-file / SUNOR_API_KEY_FILE
	KeyEnv  string // the value of SUNOR_API_KEY

	UserAgent string
}

// Builder builds accounts, at start-up and on every reload. Accounts whose
// HTTP client settings are equal share one client, and so one transport and
// one pool of connections, across reloads too.
type Builder struct {
	spec   Spec
	logger log.Logger

	mu      sync.Mutex
	clients map[string]*http.Client // by the settings they were built from
}

// NewBuilder returns a Builder for what the command line says.
func NewBuilder(s Spec, logger log.Logger) *Builder {
	return &Builder{spec: s, logger: logger, clients: map[string]*http.Client{}}
}

// Build returns the accounts to export, or the first problem found.
func (b *Builder) Build() ([]Account, error) {
	s := b.spec
	if s.ConfigFile == "" {
		a, err := b.single()
		if err != nil {
			return nil, err
		}
		return []Account{a}, nil
	}
	if s.KeyFile != "" || s.KeyEnv != "" {
		return nil, fmt.Errorf("--sunor.api-key-file, SUNOR_API_KEY_FILE and %s cannot be used with --config.file: give each account's api_key_file or api_key_env in %s", EnvAPIKey, s.ConfigFile)
	}
	f, err := config.Load(s.ConfigFile, config.Defaults{
		URL: s.URL, Timeout: s.Timeout, CacheTTL: s.CacheTTL,
		MaxCallsPerMinute: s.MaxCallsPerMinute, RateLimitReserve: s.RateLimitReserve,
	})
	if err != nil {
		return nil, err
	}
	var out []Account
	for i := range f.Accounts {
		a, err := b.fromFile(&f.Accounts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (b *Builder) single() (Account, error) {
	s := b.spec
	if err := checkName(s.Account); err != nil {
		return Account{}, fmt.Errorf("--sunor.account: %w", err)
	}
	base, err := sunor.ParseBaseURL(s.URL)
	if err != nil {
		return Account{}, fmt.Errorf("--sunor.url: %w", err)
	}
	var key apikey.Source
	switch {
	case s.KeyFile != "" && s.KeyEnv != "":
		return Account{}, fmt.Errorf("both --sunor.api-key-file (or SUNOR_API_KEY_FILE) and %s are set; set one", EnvAPIKey)
	case s.KeyFile != "":
		key, err = apikey.NewFile(s.KeyFile, b.logger)
	case s.KeyEnv != "":
		key, err = apikey.FromEnv(EnvAPIKey, s.KeyEnv)
	default:
		err = fmt.Errorf("no API key: set --sunor.api-key-file (or SUNOR_API_KEY_FILE), %s, or use --config.file", EnvAPIKey)
	}
	if err != nil {
		return Account{}, err
	}
	hc := commoncfg.DefaultHTTPClientConfig
	hc.ProxyFromEnvironment = true
	hc.TLSConfig.CAFile = s.CAFile
	client, err := b.httpClient(hc, "ca_file="+s.CAFile)
	if err != nil {
		return Account{}, fmt.Errorf("--sunor.ca-file or proxy settings: %w", err)
	}
	warnPlainHTTP(b.logger, s.Account, base)
	return Account{
		Name: s.Account, URL: base.Redacted(), API: sunor.NewClient(base, client, key.Key), Timeout: s.Timeout, CacheTTL: s.CacheTTL,
		MaxCallsPerMinute: s.MaxCallsPerMinute, RateLimitReserve: s.RateLimitReserve,
	}, nil
}

func (b *Builder) fromFile(a *config.Account) (Account, error) {
	if err := checkName(a.Name); err != nil {
		return Account{}, a.Errorf("name", "%v", err)
	}
	base, err := sunor.ParseBaseURL(a.URL)
	if err != nil {
		return Account{}, a.Errorf("url", "%v", err)
	}
	var key apikey.Source
	if a.APIKeyFile != "" {
		if key, err = apikey.NewFile(a.APIKeyFile, log.With(b.logger, "account", a.Name)); err != nil {
			return Account{}, a.Errorf("api_key_file", "%v", err)
		}
	} else {
		v, set := os.LookupEnv(a.APIKeyEnv)
		if !set {
			return Account{}, a.Errorf("api_key_env", "environment variable %s is not set", a.APIKeyEnv)
		}
		if key, err = apikey.FromEnv(a.APIKeyEnv, v); err != nil {
			return Account{}, a.Errorf("api_key_env", "%v", err)
		}
	}
	client, err := b.httpClient(a.HTTPClientConfig, a.HTTPClientSource)
	if err != nil {
		return Account{}, a.Errorf("http_client_config", "%v", err)
	}
	warnPlainHTTP(b.logger, a.Name, base)
	return Account{
		Name: a.Name, URL: base.Redacted(), API: sunor.NewClient(base, client, key.Key),
		Timeout: time.Duration(a.Timeout), CacheTTL: time.Duration(a.CacheTTL),
		MaxCallsPerMinute: a.MaxCallsPerMinute, RateLimitReserve: a.RateLimitReserve,
		Identity: a.Source,
	}, nil
}

// checkName refuses an account label value Prometheus would reject at
// scrape time (not UTF-8), which would otherwise silently drop every series.
func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("the account name (label value) must not be empty")
	}
	if !model.LabelValue(name).IsValid() {
		return fmt.Errorf("the account name %q is not valid UTF-8", name)
	}
	return nil
}

// httpClient returns the client for hc, shared with every account whose
// settings were the same (settings is their source text, secrets included).
func (b *Builder) httpClient(hc commoncfg.HTTPClientConfig, settings string) (*http.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.clients[settings]; c != nil {
		return c, nil
	}
	c, err := NewHTTPClient(hc, b.spec.UserAgent, b.spec.MaxConns)
	if err != nil {
		return nil, err
	}
	b.clients[settings] = c
	return c, nil
}

// NewHTTPClient builds an HTTP client from prometheus/common's config (TLS,
// CA, proxy) that keeps at most maxConns connections open (0: no cap).
// Redirects are off whatever hc says: sunor.NewClient refuses them too.
func NewHTTPClient(hc commoncfg.HTTPClientConfig, userAgent string, maxConns int) (*http.Client, error) {
	hc.FollowRedirects = false
	if err := hc.Validate(); err != nil {
		return nil, err
	}
	opts := []commoncfg.HTTPClientOption{commoncfg.WithUserAgent(userAgent), commoncfg.WithIdleConnTimeout(IdleConnTimeout)}
	if maxConns > 0 {
		opts = append(opts, commoncfg.WithDialContextFunc(newConnLimiter(maxConns).DialContext))
	}
	return commoncfg.NewClientFromConfig(hc, "sunor", opts...)
}

func warnPlainHTTP(logger log.Logger, account string, base *url.URL) {
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		_ = level.Warn(logger).Log("msg", "API URL is plain http: the key crosses the network unencrypted", "account", account, "url", base.Redacted())
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
