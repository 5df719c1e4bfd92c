// Package accounts turns the settings of package config into the accounts
// the collector scrapes: it loads each key and builds each HTTP client.
// Everything start-up can check is checked here or in config, so that
// --config.check and a reload check the same things.
package accounts

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/config"
	"github.com/sunor-community/sunor_exporter/internal/keydir"
	"github.com/sunor-community/sunor_exporter/internal/redact"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// IdleConnTimeout closes a pooled connection to the API unused this long:
// long enough for the next scrape at the usual intervals to reuse it, short
// enough that a thousand accounts do not keep connections open between them.
const IdleConnTimeout = 90 * time.Second

// API is what the collector needs of a Sunor client; *sunor.Client has it.
type API interface {
	Fetch(context.Context, sunor.Endpoint) ([]float64, sunor.RateLimit, error)
}

// Account is one Sunor account (one API key) to export: its settings, as
// package config read them, and what Build makes of them for the
// collector.
type Account struct {
	config.Account
	API API // the client holding this account's key
	// Identity says what the account's calls are made with: key source,
	// base URL and HTTP client settings; never the YAML text, nor the
	// timeout, cache TTL, labels or policy, which the collector applies
	// to the account it keeps. Across a reload, an account with the same
	// Name and a non-empty, equal Identity keeps its state: cache,
	// back-off, budget and the call in flight.
	Identity string
	// KeyID identifies the key without holding it (a keyed hash, with the
	// API's base URL): accounts with equal KeyIDs share one budget guard.
	// Empty: the account has a guard of its own.
	KeyID string
	// Keys returns the key the next call sends and its KeyID, read at
	// that moment: a key file or key directory entry rotated since the
	// build is charged to the guard of the key it holds now, not of the
	// one KeyID was taken from. nil: KeyID holds for every call.
	Keys func(context.Context) (key, id string)
}

// Builder builds accounts, at start-up and on every reload. Accounts whose
// HTTP client settings are equal share one client, and so one transport and
// one pool of connections, across reloads too; a client no account uses
// any more is closed.
type Builder struct {
	File      string         // --config.file; "" is single-account mode
	KeyDir    string         // --sunor.api-key-directory
	Flags     config.Account // the --sunor.* flags
	MaxConns  int            // each HTTP client's cap on open connections (--sunor.max-concurrent-calls); 0 is none
	UserAgent string
	Logger    log.Logger

	mu      sync.Mutex
	clients map[string]*http.Client // by Account.ClientKey
	dir     string                  // the key directory entries were read from
	entries []keydir.Entry
	handed  bool            // entries came from UseKeyFiles, not yet built
	warned  map[string]bool // the key directory's files the last Build skipped, each warned about once
	built   bool            // a Build has succeeded: the exporter runs
}

// KeyFiles returns the key directory in force and its files, as the last
// Build read them ("" and none without one).
func (b *Builder) KeyFiles() (string, []keydir.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dir, b.entries
}

// UseKeyFiles hands the next Build the files of the key directory dir, as
// keydir.Watch found them, instead of its reading them again.
func (b *Builder) UseKeyFiles(dir string, entries []keydir.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dir, b.entries, b.handed = dir, entries, true
}

// secret keys the hashes of KeyID and Identity: random per process, so a
// hash says nothing about the key outside it.
var secret = []byte(rand.Text())

func keyedHash(parts ...string) string {
	h := hmac.New(sha256.New, secret)
	for _, p := range parts {
		h.Write([]byte(p + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Build returns the accounts to export, or the first problem found,
// redacted (see Redact).
func (b *Builder) Build() (accts []Account, err error) {
	defer func() {
		if err != nil {
			err = b.Redact(err)
		}
	}()
	settings, dir, err := config.Accounts(b.File, b.KeyDir, b.Flags)
	if err != nil {
		return nil, err
	}
	accts = make([]Account, len(settings))
	for i, s := range settings {
		accts[i].Account = s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if dir.Path == "" {
		b.entries = nil
	} else if dir.Path != b.dir || !b.handed { // not what Watch just found
		entries, warnings, err := keydir.Scan(dir.Path, b.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", dir.Where, err)
		}
		for _, w := range warnings {
			_ = level.Warn(b.Logger).Log("msg", w)
		}
		b.entries = entries
	}
	b.dir, b.handed = dir.Path, false
	keys := map[string]apikey.Source{}
	warned := map[string]bool{}
	// skip refuses a key directory's file at start; once running, one
	// file must not hold up every other change of the directory (keys
	// added, and removed ones that would stay in use): it is skipped, as
	// a file whose name is no account name is, with one warning while it
	// stays.
	skip := func(msg string) error {
		if !b.built {
			return errors.New(msg)
		}
		if warned[msg] = true; !b.warned[msg] {
			_ = level.Warn(b.Logger).Log("msg", msg+"; skipping the file")
		}
		return nil
	}
	for _, e := range b.entries {
		if slices.ContainsFunc(accts, func(a Account) bool { return a.Name == e.Name }) {
			if err := skip(fmt.Sprintf("%s: key file %s: %q is already the name of an account of the file", dir.Where, e.Path, e.Name)); err != nil {
				return nil, err
			}
			continue
		}
		a := Account{Account: dir.Settings}
		a.Name, a.APIKeyFile, keys[e.Path] = e.Name, e.Path, e.Key
		accts = append(accts, a)
	}
	if len(accts) > config.MaxAccounts {
		return nil, fmt.Errorf("%s: %d accounts with those of the file; at most %d", dir.Where, len(accts), config.MaxAccounts)
	}
	redact.Known.AtLeast(2 * len(accts)) // every key in use, and those of the last build
	used := map[string]*http.Client{}
	var inUse []string
	for i := range accts {
		k, err := b.build(&accts[i], used, keys[accts[i].APIKeyFile])
		if err != nil {
			return nil, err
		}
		inUse = append(inUse, k)
	}
	r := redact.New(inUse...)
	for i := len(accts) - 1; i >= 0; i-- {
		if _, fromDir := keys[accts[i].APIKeyFile]; !fromDir || !holdsKey(r, accts[i].Name) {
			continue
		}
		// Named by its path with the key's pieces redacted: enough to
		// find the file, nothing of the key.
		path := r.Clean(accts[i].APIKeyFile, redact.MaxLineChars)
		if err := skip(fmt.Sprintf("%s: the name of a key file holds an API key, or a piece of one (%q): the name would be the account label of every series", dir.Where, path)); err != nil {
			return nil, err
		}
		accts, inUse = slices.Delete(accts, i, i+1), slices.Delete(inUse, i, i+1)
	}
	if err := keysShown(accts, r); err != nil {
		return nil, err
	}
	for k, c := range b.clients {
		if used[k] == nil {
			c.CloseIdleConnections()
		}
	}
	b.clients, b.built, b.warned = used, true, warned
	return accts, nil
}

// Redact returns err with every key the configuration names redacted (see
// config.KeySources, a flag's value too): no key may be in use yet to
// redact it by. The keys read are not added to the keys in use: a file
// that fails is no reason to redact its keys from every later line. The
// error is cut to one log line.
func (b *Builder) Redact(err error) error {
	files, envs, dirs := config.KeySources(b.File, b.KeyDir, b.Flags)
	ctx, nop := context.Background(), log.NewNopLogger()
	var keys []string
	for _, p := range files {
		if f, err := apikey.NewFile(p, nop); err == nil {
			keys = append(keys, f.Key(ctx))
		}
	}
	for _, e := range envs {
		if k, err := apikey.FromEnv(e, os.Getenv(e)); err == nil {
			keys = append(keys, k.Key(ctx))
		}
	}
	for _, d := range dirs {
		entries, _, _ := keydir.Scan(d, nop)
		for _, e := range entries {
			keys = append(keys, e.Key.Key(ctx))
		}
	}
	// The keys in use are redacted where the error is written (the log's
	// writer, a reload's answer), as every other line is.
	return errors.New(redact.New(keys...).Clean(err.Error(), redact.MaxLineChars))
}

// holdsKey reports whether v holds one of r's keys, or a piece of one
// (redact.MinPiece characters).
func holdsKey(r *redact.Redactor, v string) bool {
	return strings.Count(r.Clean(v, len(v)+len(redact.Redacted)), redact.Redacted) > strings.Count(v, redact.Redacted)
}

// keysShown refuses an account whose name, owner label name or value
// holds one of the keys in use (r's), or a piece of one (redact.MinPiece
// characters): a key pasted in the wrong place would be on every series,
// the landing page and /sd, where no redaction reaches. The error does not
// show the value. The key directory's files are checked by Build.
func keysShown(accts []Account, r *redact.Redactor) error {
	for _, a := range accts {
		if holdsKey(r, a.Name) {
			// The error names the entry by its name: that too is redacted.
			err := a.Errorf("name", "holds an API key, or a piece of one: the name is the account label of every series, not redacted")
			return errors.New(r.Clean(err.Error(), len(err.Error())))
		}
		for _, l := range slices.Sorted(maps.Keys(a.Labels)) {
			if holdsKey(r, l) { // the name is not shown: it holds the key
				return a.Errorf("labels", "a label name holds an API key, or a piece of one: a label name is on every series and on /sd, not redacted")
			}
			if holdsKey(r, a.Labels[l]) {
				return a.Errorf("labels."+l, "the value of %q holds an API key, or a piece of one: a label value is on every series, not redacted", l)
			}
		}
	}
	return nil
}

// build loads a's key, unless a key directory's file has it already, and
// gives it its client. It returns the key, which it adds to the keys the
// logs are redacted of.
func (b *Builder) build(a *Account, used map[string]*http.Client, key apikey.Source) (string, error) {
	base := a.BaseURL() // parsed by config's check
	var err error
	switch {
	case key != nil: // a key directory's file, read already
	case a.APIKeyFile != "":
		if key, err = apikey.NewFile(a.APIKeyFile, log.With(b.Logger, "account", a.Name)); errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(a.APIKeyFile, `/\.`) {
			// A bare word that is no file is likely the key itself, pasted.
			return "", a.Errorf("api_key_file", "no such file (the value is not shown: if it is the key itself, put it in a file and name the file here)")
		} else if err != nil {
			return "", a.Errorf("api_key_file", "%v", err)
		}
	default:
		v, set := os.LookupEnv(a.APIKeyEnv)
		if !set {
			// Not named: it may be a key pasted in the wrong place.
			return "", a.Errorf("api_key_env", "the environment variable it names is not set")
		}
		if key, err = apikey.FromEnv(a.APIKeyEnv, v); err != nil {
			return "", a.Errorf("api_key_env", "%v", err)
		}
	}
	client := cmp.Or(used[a.ClientKey], b.clients[a.ClientKey])
	if client == nil {
		if client, err = NewHTTPClient(a.HTTPClientConfig, b.UserAgent, b.MaxConns); err != nil {
			return "", a.Errorf("http_client_config", "%v", err)
		}
	}
	used[a.ClientKey] = client
	if ip := net.ParseIP(base.Hostname()); base.Scheme == "http" && !strings.EqualFold(base.Hostname(), "localhost") && !ip.IsLoopback() {
		_ = level.Warn(b.Logger).Log("msg", "API URL is plain http: the key crosses the network unencrypted", "account", a.Name, "url", base.Redacted())
	}
	keys := &keyIDs{src: key, api: sameAPI(base)}
	a.URL, a.API = base.Redacted(), sunor.NewClient(base, client, keys.send)
	k, id := keys.current(context.Background())
	redact.Known.Add(k) // before its first call: a log line may quote it sooner
	a.KeyID, a.Keys = id, keys.current
	// The collector applies the rest of a kept account's settings anew.
	a.Identity = keyedHash(base.String(), a.APIKeyFile, a.APIKeyEnv, a.ClientKey)
	return k, nil
}

// keyIDs is an account's key with its KeyID, as the key is at each call.
// The collector reads both just before a call, charges the call to the
// guard of that KeyID, and hands the same key to Fetch through WithKey: a
// key file rotated between the two reads cannot make a call that is
// charged to one key and sent with another.
type keyIDs struct {
	src apikey.Source
	api string // sameAPI of the base URL: one key on two APIs is two budgets

	mu      sync.Mutex
	key, id string // the last key read and its KeyID, so as not to hash it on every call
}

// current returns the key a call made now sends, and its KeyID.
func (k *keyIDs) current(ctx context.Context) (key, id string) {
	key = k.src.Key(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if key != k.key || k.id == "" {
		k.key, k.id = key, keyedHash(k.api, key)
	}
	return k.key, k.id
}

// send is the client's KeyFunc: the key the collector charged the call
// to (WithKey), else the key read now.
func (k *keyIDs) send(ctx context.Context) string {
	if key, ok := ctx.Value(sendKey{}).(string); ok {
		return key
	}
	return k.src.Key(ctx)
}

type sendKey struct{}

// WithKey returns ctx with which an account's API (built by Build) sends
// key, as Account.Keys returned it, instead of reading its key again.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, sendKey{}, key)
}

// sameAPI writes base the same way however the user did: the host in lower
// case, without the scheme's own port. Two spellings of one API are one
// key's budget there, so they must give one KeyID.
func sameAPI(base *url.URL) string {
	u := *base
	u.Host = strings.ToLower(u.Host)
	if p := u.Port(); u.Scheme == "https" && p == "443" || u.Scheme == "http" && p == "80" {
		u.Host = strings.TrimSuffix(u.Host, ":"+p)
	}
	return u.String()
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
