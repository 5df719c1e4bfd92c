// Package config holds the settings of the accounts to export, in layers:
// the --sunor.* flags, the defaults: block of the accounts file
// (--config.file, see deploy/config/sunor.example.yml), then each entry of
// its accounts: list. In single-account mode the flags are the one entry.
// Every problem is one line in the user's words, naming the flag, or the
// file, line, entry and field.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v3"

	"github.com/sunor-community/sunor_exporter/internal/baseurl"
	"github.com/sunor-community/sunor_exporter/internal/labelvalue"
	"github.com/sunor-community/sunor_exporter/internal/regularfile"
)

// EnvAPIKey holds the key itself in single-account mode. There is no flag
// for it: a flag's value shows in ps.
const EnvAPIKey = "SUNOR_API_KEY"

// Account is one Sunor account (one API key): its settings, as the flags,
// defaults: and its entry give them; package accounts builds what the
// collector runs it with (the client, the key source, KeyID, identity).
// A setting's flag is --sunor.<its yaml name, - for _>,
// unless flagNames says otherwise; `check` says what its value must be.
type Account struct {
	Name       string `yaml:"name"` // the `account` label
	APIKeyFile string `yaml:"api_key_file"`
	APIKeyEnv  string `yaml:"api_key_env"`
	// URL is the API's base URL, as given (BaseURL is it parsed); package
	// accounts writes it as parsed, without credentials, for logs.
	URL               string        `yaml:"url"`
	Timeout           time.Duration `yaml:"timeout"`              // the most one API call may take
	CacheTTL          time.Duration `yaml:"cache_ttl"`            // reuse a successful answer this long
	MaxCallsPerMinute int           `yaml:"max_calls_per_minute"` // over all endpoints and accounts with the key
	// RateLimitReserve: when X-RateLimit-Remaining is at or below it, no
	// call until the window resets. The rest belongs to the user's product.
	RateLimitReserve int `yaml:"rate_limit_reserve"`
	// HTTPClientConfig carries TLS, CA and proxy settings. Redirects are
	// never followed, whatever follow_redirects says: the key must not
	// travel to another host.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:"http_client_config"`

	// Labels are the owner labels (team, env, ...) added to every series
	// of the account; an entry's add to those of defaults: and the flags.
	Labels              map[string]string `yaml:"labels"`
	LowCreditsThreshold float64           `yaml:"low_credits_threshold"` // credits; sunor_credits_low_threshold
	DailyBudget         float64           `yaml:"daily_budget"`          // credits a day; sunor_credits_daily_budget
	// TaskCost is what one task of this account costs, in credits: the
	// API refuses work (402) once the credits available are below it.
	TaskCost float64 `yaml:"task_cost"` // sunor_credits_task_cost

	// ClientKey tells apart the HTTP client settings: the text of the
	// http_client_config in force, secrets included, comments and layout
	// not; "" for the flags' own.
	ClientKey string   `yaml:"-"`
	base      *url.URL // URL parsed, by check: the URL is parsed once
	entry     place    // where the entry is; none for the flags
	defaults  place
}

// BaseURL is URL parsed (see baseurl.Parse), once the account is checked:
// every Account that Accounts returns is.
func (a *Account) BaseURL() *url.URL { return a.base }

// place is a mapping in the accounts file; n is nil for none.
type place struct {
	file, where string
	n           *yaml.Node
}

// perEntry are the settings the defaults: block cannot give.
var perEntry = []string{"name", "api_key_file", "api_key_env"}

// flagNames are the flags of the settings whose flag is not
// --sunor.<yaml name>; "" for a setting whose errors say their source.
var flagNames = map[string]string{"name": "--sunor.account", "api_key_env": "", "labels": "--sunor.label", "http_client_config": "--sunor.ca-file"}

// flagOnly are settings that only a flag gives, for the whole exporter or
// through another field: a field of that name (- or _) says which flag, or
// where it goes in the file, instead of "unknown field".
var flagOnly = map[string]string{
	"ca_file":              "--sunor.ca-file; in the file, http_client_config: {tls_config: {ca_file: ...}}",
	"max_concurrent_calls": "--sunor.max-concurrent-calls, for the whole exporter",
	"timeout_offset":       "--sunor.timeout-offset, for the whole exporter",
	"account":              "--sunor.account; in the file, name:",
	"api_key_directory":    "--sunor.api-key-directory; in the file, api_key_directory: at the top level, next to accounts:",
}

// FlagOnly says which flag sets the setting called name that no entry of
// the file takes ("" for a field, or no setting).
func FlagOnly(name string) string { return flagOnly[strings.ReplaceAll(name, "-", "_")] }

// Fields returns the fields an entry of accounts: takes and those the
// defaults: block takes, sorted.
func Fields() (entry, defaults []string) {
	fields, _ := fieldsOf(reflect.TypeFor[Account]())
	entry = slices.Sorted(maps.Keys(fields))
	return entry, slices.DeleteFunc(slices.Clone(entry), func(f string) bool { return slices.Contains(perEntry, f) })
}

// FlagOf returns the flag of the setting field ("" when there is none).
func FlagOf(field string) string {
	if flag, named := flagNames[field]; named {
		return flag
	}
	return "--sunor." + strings.ReplaceAll(field, "_", "-")
}

// Errorf returns an error about field (dotted for a nested one) that says
// where the user gave it: "sunor.yml:7: accounts[1] (staging): timeout: ...",
// "sunor.yml:2: defaults: timeout: ..." or "--sunor.timeout: ...".
func (a *Account) Errorf(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	top, _, _ := strings.Cut(field, ".")
	for i, p := range []place{a.entry, a.defaults} {
		key, n := (*yaml.Node)(nil), p.n
		for _, name := range strings.Split(field, ".") {
			if k, v := lookup(n, name); k != nil {
				key, n = k, v // the deepest found
			}
		}
		if key != nil || i == 0 && p.n != nil && slices.Contains(perEntry, top) {
			return fmt.Errorf("%s:%d: %s: %s: %s", p.file, cmp.Or(key, p.n).Line, p.where, field, msg)
		}
	}
	flag := FlagOf(top)
	if flag == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", flag, msg)
}

// lookup returns the key and value nodes of key in the mapping n as the
// decoder reads n: through an alias, and through merge keys (<<: *a,
// <<: [*a, *b]), where n's own keys come first, then each merged mapping's
// in order, as yaml.v3 decodes them. Whatever decides an account's
// settings (its HTTP client, where an error points) must find what the
// decoder set, or a merged http_client_config would be decoded into one
// account but counted as another's.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	return lookupIn(n, key, nil)
}

// lookupIn is lookup; seen are the mappings looked in already, so that an
// anchor merged into itself, or merged many times, is looked in once.
func lookupIn(n *yaml.Node, key string, seen map[*yaml.Node]bool) (k, v *yaml.Node) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode || seen[n] {
		return nil, nil
	}
	var merge *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch c := n.Content[i]; {
		case isMerge(c):
			merge = n.Content[i+1] // the last one, as the decoder does
		case c.Value == key:
			return c, n.Content[i+1]
		}
	}
	if merge == nil {
		return nil, nil
	}
	if seen == nil {
		seen = map[*yaml.Node]bool{}
	}
	seen[n] = true
	from := []*yaml.Node{merge}
	if merge.Kind == yaml.SequenceNode {
		from = merge.Content
	}
	for _, m := range from {
		if k, v := lookupIn(m, key, seen); k != nil {
			return k, v
		}
	}
	return nil, nil
}

// isMerge says whether k is a merge key: <<, not quoted.
func isMerge(k *yaml.Node) bool { return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" }

// check refuses a setting no account can run with: the one validator for
// the flags, the defaults: block and every entry.
func (a *Account) check() error {
	notNumber := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	for _, r := range []struct {
		field, rule string
		bad         bool
		got         any
	}{
		{"timeout", "must be positive", a.Timeout <= 0, a.Timeout},
		{"cache_ttl", "must not be negative", a.CacheTTL < 0, a.CacheTTL},
		{"max_calls_per_minute", "must not be negative (0 is no ceiling)", a.MaxCallsPerMinute < 0, a.MaxCallsPerMinute},
		{"rate_limit_reserve", "must not be negative", a.RateLimitReserve < 0, a.RateLimitReserve},
		{"low_credits_threshold", "must be a number", notNumber(a.LowCreditsThreshold), a.LowCreditsThreshold},
		{"low_credits_threshold", "must not be negative", a.LowCreditsThreshold < 0, a.LowCreditsThreshold},
		{"daily_budget", "must be a number", notNumber(a.DailyBudget), a.DailyBudget},
		{"daily_budget", "must not be negative (0 is no budget)", a.DailyBudget < 0, a.DailyBudget},
		{"task_cost", "must be a number", notNumber(a.TaskCost), a.TaskCost},
		{"task_cost", "must be positive (credits one task costs; a music clip is 10)", a.TaskCost <= 0, a.TaskCost},
	} {
		if r.bad {
			return a.Errorf(r.field, "%s, got %v", r.rule, r.got)
		}
	}
	base, err := baseurl.Parse(a.URL)
	if err != nil {
		// user:password@host without a scheme (or with a mistyped one)
		// does not parse as credentials, and the error quotes them.
		if at := strings.LastIndex(a.URL, "@"); at >= 0 && strings.Contains(err.Error(), a.URL[:at]) {
			return a.Errorf("url", "not an http(s) URL with a host, such as https://sunor.cc; the value is not shown: it may hold a password")
		}
		if s := suggestScheme(a.URL); s != "" {
			return a.Errorf("url", "%q is not an http(s) URL%s", a.URL, s)
		}
		return a.Errorf("url", "%v", err)
	}
	a.base = base
	if err := a.HTTPClientConfig.Validate(); err != nil {
		return a.Errorf("http_client_config", "%v", err)
	}
	if len(a.Labels) > maxLabels {
		return a.Errorf("labels", "%d labels; at most %d: each is on every series of the account", len(a.Labels), maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		switch {
		case len(k) > labelvalue.MaxBytes || len(a.Labels[k]) > labelvalue.MaxBytes:
			return a.Errorf("labels", "a label name or value longer than %d bytes", labelvalue.MaxBytes)
		case !model.LegacyValidation.IsValidLabelName(k):
			return a.Errorf("labels", "%q is not a label name (letters, digits and _, not first a digit)", k)
		case slices.Contains(reservedLabels, k) || strings.HasPrefix(k, "__"):
			return a.Errorf("labels."+k, "%q is reserved: the exporter or Prometheus sets it", k)
		case labelvalue.Problem(a.Labels[k]) != "":
			return a.Errorf("labels."+k, "the value of %q must be non-empty UTF-8, without control characters, invisible ones (zero-width, direction overrides) or whitespace at either end", k)
		}
	}
	if n := labelBytes(a.Labels); n > MaxLabelBytes {
		return a.Errorf("labels", "names and values of %d bytes in all; at most %d: they are on every series of the account", n, MaxLabelBytes)
	}
	return nil
}

// Bounds on what the file puts on every series of an account: owner
// labels are a team and an environment, not a document.
const (
	maxLabels = 32
	// MaxLabelBytes bounds the owner labels' names and values of one
	// account, together: each of its ~50 series carries them, so they
	// set the size of a scrape (docs/configuration.md has the figures).
	// Before it, 32 labels of 128-byte names and values made 408 KB an
	// account: 408 MB for 1000.
	MaxLabelBytes = 256
)

// labelBytes is the size of labels' names and values.
func labelBytes(labels map[string]string) (n int) {
	for k, v := range labels {
		n += len(k) + len(v)
	}
	return n
}

// MaxAccounts is the most accounts the exporter runs, the file's entries
// and the key directory's files together: 10 000 is the most measured
// (docs/performance.md), and a check of a file of that many takes about
// 80 MiB and 1.5 s (docs/configuration.md).
const MaxAccounts = 10_000

// reservedLabels are set by the exporter or by Prometheus (le: the buckets
// of sunor_api_call_duration_seconds).
var reservedLabels = []string{"account", "job", "instance", "endpoint", "collector", "reason", "le"}

// ReservedLabels returns the owner label names refused besides those
// starting with "__": the Helm chart's schema refuses the same, tested.
func ReservedLabels() []string { return slices.Clone(reservedLabels) }

// checkEntry refuses an account without a name or a key, or with two
// keys; seen holds the names before it.
func (a *Account) checkEntry(seen map[string]string) error {
	if labelvalue.Problem(a.Name) != "" {
		return a.Errorf("name", "the account name (label value) must be non-empty UTF-8, without control characters (NUL, tab, newline), invisible ones (zero-width, direction overrides) or whitespace at either end")
	}
	if len(a.Name) > labelvalue.MaxBytes {
		return a.Errorf("name", "the account name is longer than %d bytes", labelvalue.MaxBytes)
	}
	if first, dup := seen[a.Name]; dup {
		return a.Errorf("name", "%q is already the name of %s", a.Name, first)
	}
	switch {
	case a.APIKeyFile == "" && a.APIKeyEnv == "":
		return a.Errorf("api_key_file", "set api_key_file or api_key_env")
	case a.APIKeyFile != "" && a.APIKeyEnv != "":
		return a.Errorf("api_key_env", "set api_key_file or api_key_env, not both")
	case a.APIKeyEnv != "" && !envName.MatchString(a.APIKeyEnv):
		// Most likely the key itself, pasted: never shown.
		return a.Errorf("api_key_env", "is not the name of an environment variable (letters, digits and _): put the key in one and name it here")
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// suggestScheme is the likely URL meant by one written without a scheme:
// http:// for a loopback host (the fake API, a local proxy) or a
// host:port, https:// for a host alone (or on port 443). Nothing for what
// could hold a password (user:secret@host), or what the scheme would not
// make a base URL.
func suggestScheme(u string) string {
	if u == "" || strings.ContainsAny(u, "@ ") || strings.Contains(u, "://") {
		return ""
	}
	hostport, _, _ := strings.Cut(u, "/")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "" // not a port: user:secret, perhaps
	}
	ip := net.ParseIP(host)
	scheme := "https://"
	if strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback() || port != "" && port != "443" {
		scheme = "http://"
	}
	if _, err := baseurl.Parse(scheme + u); err != nil {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", scheme+u)
}

// Directory is a directory of key files, each one account named after its
// file, with Settings (the flags under defaults:).
type Directory struct {
	Path, Where string // Where: the flag or file line that named it
	Settings    Account
}

// Accounts returns the accounts to export, checked: the entries of file
// over the flags, or the flags' own account when file is "", and the key
// directory (dir, or api_key_directory in file), if any.
func Accounts(file, dir string, flags Account) ([]Account, Directory, error) {
	err := flags.check() // before the copies below: it parses the URL
	d := Directory{dir, "--sunor.api-key-directory", flags}
	if err != nil {
		return nil, d, err
	}
	envKey := os.Getenv(EnvAPIKey) != ""
	if file != "" {
		if flags.APIKeyFile != "" || envKey {
			return nil, d, fmt.Errorf("--sunor.api-key-file, SUNOR_API_KEY_FILE and %s cannot be used with --config.file: give each account's api_key_file or api_key_env in %s", EnvAPIKey, file)
		}
		flags.Name = ""
		accts, err := load(file, &d, flags)
		return accts, d, err
	}
	switch n := len(slices.DeleteFunc([]string{flags.APIKeyFile, os.Getenv(EnvAPIKey), dir}, func(s string) bool { return s == "" })); {
	case n > 1:
		return nil, d, fmt.Errorf("more than one of --sunor.api-key-file (or SUNOR_API_KEY_FILE), %s and --sunor.api-key-directory are set; set one", EnvAPIKey)
	case dir != "":
		return nil, d, nil
	case envKey:
		flags.APIKeyEnv = EnvAPIKey
	case flags.APIKeyFile == "":
		return nil, d, fmt.Errorf("no API key: set --sunor.api-key-file (or SUNOR_API_KEY_FILE), %s, --sunor.api-key-directory, or use --config.file", EnvAPIKey)
	}
	return []Account{flags}, d, flags.checkEntry(nil)
}

// KeySources names where the configuration's keys are, as far as it can
// be read, valid or not: the key files, environment variables and key
// directories of the flags and of file's entries. An error is redacted of
// these keys: one pasted into another field (timeout:, url:, a field's
// name) is quoted by the error before any key is read.
func KeySources(file, dir string, flags Account) (files, envs, dirs []string) {
	add := func(to *[]string, n *yaml.Node) {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
			*to = append(*to, n.Value)
		}
	}
	add(&files, &yaml.Node{Kind: yaml.ScalarNode, Value: flags.APIKeyFile})
	add(&envs, &yaml.Node{Kind: yaml.ScalarNode, Value: cmp.Or(flags.APIKeyEnv, EnvAPIKey)})
	add(&dirs, &yaml.Node{Kind: yaml.ScalarNode, Value: dir})
	var doc yaml.Node
	if file == "" {
		return files, envs, dirs
	} else if b, err := readFile(file); err != nil || yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return files, envs, dirs
	}
	_, d := lookup(doc.Content[0], "api_key_directory")
	add(&dirs, d)
	_, list := lookup(doc.Content[0], "accounts")
	for list != nil && list.Kind == yaml.AliasNode {
		list = list.Alias
	}
	for i := 0; list != nil && list.Kind == yaml.SequenceNode && i < len(list.Content); i++ {
		_, f := lookup(list.Content[i], "api_key_file")
		_, e := lookup(list.Content[i], "api_key_env")
		add(&files, f)
		add(&envs, e)
	}
	return files, envs, dirs
}

// File is the shape of the accounts file.
type File struct {
	Defaults        Account   `yaml:"defaults"`
	Accounts        []Account `yaml:"accounts"`
	APIKeyDirectory string    `yaml:"api_key_directory"` // one account a key file, with the settings of defaults:
}

// load reads the accounts file: each entry is decoded over the defaults:
// block, decoded over the flags. A setting left out, or left empty, keeps
// the value beneath it.
func load(path string, d *Directory, flags Account) ([]Account, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config.file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); (err != nil && err != io.EOF) || !utf8.Valid(b) {
		return nil, syntaxError(path, b, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; it needs an accounts: list", path)
	}
	for {
		// Only the first document is read: accounts after a --- would be
		// dropped without a word. An empty one (a trailing ---) is fine.
		var next yaml.Node
		if err := dec.Decode(&next); err == io.EOF {
			break
		} else if err != nil {
			return nil, syntaxError(path, b, err)
		} else if len(next.Content) > 0 && next.Content[0].Tag != "!!null" {
			return nil, fmt.Errorf("%s:%d: a second YAML document (after ---): put every account in the one accounts: list", path, next.Line)
		}
	}
	root := doc.Content[0]
	if err := shape(root, reflect.TypeFor[File](), "", "", map[*yaml.Node]reflect.Type{}); err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	base := flags
	if _, n := lookup(root, "defaults"); n != nil && n.Tag != "!!null" {
		for _, f := range perEntry {
			if k, _ := lookup(n, f); k != nil {
				return nil, fmt.Errorf("%s:%d: defaults: %s: each account has its own: give it in the entry", path, k.Line, f)
			}
		}
		base.defaults = place{path, "defaults", n}
		if err := base.decode(base.defaults); err != nil {
			return nil, err
		}
	}
	if k, v := lookup(root, "api_key_directory"); k != nil && v.Value != "" {
		if d.Path != "" {
			return nil, fmt.Errorf("%s:%d: api_key_directory: --sunor.api-key-directory (or SUNOR_API_KEY_DIRECTORY) is set too; set one", path, k.Line)
		}
		d.Path, d.Where = v.Value, fmt.Sprintf("%s:%d: api_key_directory", path, k.Line)
	}
	d.Settings = base
	_, list := lookup(root, "accounts")
	if list == nil {
		list = &yaml.Node{}
	}
	if len(list.Content) == 0 && d.Path == "" {
		return nil, fmt.Errorf("%s: no accounts: the file needs an accounts: list with at least one entry, or an api_key_directory", path)
	}
	if n := len(list.Content); n > MaxAccounts {
		return nil, fmt.Errorf("%s:%d: accounts[%d]: %d accounts; at most %d", path, list.Content[MaxAccounts].Line, MaxAccounts, n, MaxAccounts)
	}
	var out []Account
	seen := map[string]string{}
	for i, n := range list.Content {
		a := base
		a.entry = place{path, whereOf(fmt.Sprintf("accounts[%d]", i), n), n}
		if err := cmp.Or(a.decode(a.entry), a.checkEntry(seen)); err != nil {
			return nil, err
		}
		seen[a.Name] = fmt.Sprintf("accounts[%d]", i)
		out = append(out, a)
	}
	return out, nil
}

// MaxFileBytes is the largest accounts file read: MaxAccounts entries of
// a few lines each take a fraction of it. Its parsed tree takes up to
// about 110 times its size (a file of one-character list items, measured),
// so it bounds what a check, or a reload, takes: 16 MiB took 1.8 GiB.
const MaxFileBytes = 4 << 20

// readFile reads the accounts file, refusing what is not a regular file (a
// named pipe would block the start, or a reload, for ever) or is larger
// than MaxFileBytes (/dev/zero, a log file named by mistake). The Stat
// before the shared read (package regularfile) keeps the words its errors
// have always had ("stat ...: no such file or directory", "a special
// file" for a socket, which regularfile.Open could not open).
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &regularfile.NotRegularError{Path: path, Mode: fi.Mode()}
	}
	// Opened without waiting on a named pipe put there since the Stat.
	f, _, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := regularfile.ReadAll(f, MaxFileBytes)
	if errors.Is(err, regularfile.ErrTooLarge) {
		return nil, fmt.Errorf("%s: larger than %d MiB; is it the accounts file?", path, MaxFileBytes>>20)
	} else if err != nil {
		return nil, err
	}
	return b, nil
}

// decode sets what p gives over a, and checks the result.
func (a *Account) decode(p place) error {
	n := p.n
	a.Labels = maps.Clone(a.Labels) // decoding adds to a map, which a shares
	if err := n.Decode(a); err != nil {
		// What shape leaves to fail: an anchor inside itself.
		return fmt.Errorf("%s:%d: %s: %s", p.file, n.Line, p.where, strings.TrimPrefix(strings.Join(strings.Fields(err.Error()), " "), "yaml: "))
	}
	if _, hc := lookup(n, "http_client_config"); hc != nil {
		a.ClientKey = canonical(hc)
		// Proxies from the environment, as with the flags, unless the
		// block says otherwise.
		url, _ := lookup(hc, "proxy_url")
		env, _ := lookup(hc, "proxy_from_environment")
		a.HTTPClientConfig.ProxyFromEnvironment = a.HTTPClientConfig.ProxyFromEnvironment || url == nil && env == nil
	}
	return a.check()
}

// whereOf says which entry is at, by its index and the name it gives
// itself, escaped to keep the error on one line: "accounts[1] (staging)".
func whereOf(at string, entry *yaml.Node) string {
	var name string
	if _, n := lookup(entry, "name"); n != nil && n.Decode(&name) == nil && name != "" {
		q := strconv.Quote(name)
		return at + " (" + q[1:len(q)-1] + ")"
	}
	return at
}

// canonical is n's content without its comments, quoting, layout or order.
func canonical(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode {
		return canonical(n.Alias)
	}
	var parts []string
	for i := 0; i < len(n.Content); i++ {
		if n.Kind == yaml.MappingNode {
			parts = append(parts, canonical(n.Content[i])+":"+canonical(n.Content[i+1]))
			i++
		} else {
			parts = append(parts, canonical(n.Content[i]))
		}
	}
	if n.Kind == yaml.MappingNode {
		slices.Sort(parts)
	}
	return n.ShortTag() + strconv.Quote(n.Value) + "(" + strings.Join(parts, ",") + ")"
}

// syntaxError says what is wrong with a file that is not YAML.
func syntaxError(path string, b []byte, err error) error {
	where, msg := path, "not valid YAML"
	m := yamlLine.FindStringSubmatch(fmt.Sprint(err))
	if m != nil {
		where, msg = path+":"+m[1], msg+": "+m[2]
	}
	tab := false
	for i, l := range strings.SplitAfter(string(b), "\n") {
		at := strconv.Itoa(i + 1)
		switch {
		case !utf8.ValidString(l):
			return fmt.Errorf("%s:%d: not UTF-8 text", path, i+1)
		case tab || m == nil || !strings.HasPrefix(strings.TrimLeft(l, " "), "\t"):
		case at == m[1],
			// The library reports "a tab character that violates
			// indentation" on the line before the tab's.
			strings.Contains(m[2], "tab character") && at == strconv.Itoa(atoi(m[1])+1):
			tab, where, msg = true, path+":"+at, "a tab in the indentation: YAML is indented with spaces only"
		}
	}
	return fmt.Errorf("%s: %s", where, msg)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)`)

// shape refuses what does not fit t, the type n is decoded into, in the
// user's words: unknown fields, with the nearest known one suggested, and
// values of the wrong kind. where and field say whose n is.
func shape(n *yaml.Node, t reflect.Type, where, field string, done map[*yaml.Node]reflect.Type) error {
	fail := func(n *yaml.Node, field, format string, args ...any) error {
		return errors.New(strings.Join(slices.DeleteFunc([]string{strconv.Itoa(n.Line), where, field, fmt.Sprintf(format, args...)}, func(s string) bool { return s == "" }), ": "))
	}
	wants := func(n *yaml.Node, what string) error {
		got := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: strconv.Quote(n.Value)}[n.Kind]
		return fail(n, field, "wants %s, got %s", what, got)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if done[n.Alias] == t { // checked, or being checked: an anchor used again, or inside itself
			return nil
		}
		done[n.Alias] = t
		return shape(n.Alias, t, where, field, done)
	} else if t == reflect.TypeFor[Account]() && field != "" {
		where, field = whereOf(field, n), ""
	}
	custom := reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]())
	switch kind := t.Kind(); {
	case n.Tag == "!!null":
		return nil // the value beneath stays
	case custom && n.Kind == yaml.ScalarNode, kind == reflect.Interface:
	case kind == reflect.Struct || kind == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return wants(n, "a mapping (name: value lines)")
		}
		fields, rest := fieldsOf(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub, ft := strings.TrimPrefix(field+"."+k.Value, "."), fields[k.Value]
			switch {
			case k.Kind != yaml.ScalarNode:
				return wants(k, "a name before the colon")
			case isMerge(k):
				sub, ft = field, t // a merge key: <<: *anchor
			case kind == reflect.Map:
				ft = t.Elem()
			case ft == nil && rest != nil:
				ft = rest.Elem() // http_headers: any name, each a header's settings
			case ft == nil && FlagOnly(k.Value) != "" && (t == reflect.TypeFor[Account]() || t == reflect.TypeFor[File]()):
				return fail(k, field, "%q is set by %s", k.Value, FlagOnly(k.Value))
			case ft == nil:
				return fail(k, field, "unknown field %q%s", k.Value, nearest(k.Value, fields))
			}
			if first, dup := seen[k.Value]; dup {
				return fail(k, sub, "given twice (first on line %d)", first)
			}
			seen[k.Value] = k.Line
			merged := []*yaml.Node{v}
			if isMerge(k) && v.Kind == yaml.SequenceNode {
				merged = v.Content // <<: [*a, *b]: each is merged
			}
			for _, v := range merged {
				if err := shape(v, ft, where, sub, done); err != nil {
					return err
				}
			}
		}
	case kind == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wants(n, "a list (- item lines)")
		}
		for i, e := range n.Content {
			if err := shape(e, t.Elem(), where, fmt.Sprintf("%s[%d]", field, i), done); err != nil {
				return err
			}
		}
	case n.Kind != yaml.ScalarNode:
		return wants(n, "a single value")
	}
	duration := t == reflect.TypeFor[time.Duration]()
	if d, err := model.ParseDuration(n.Value); err == nil && duration {
		n.Value = time.Duration(d).String() // 1d as before, and as Prometheus writes it
	}
	if !custom && t.Kind() > reflect.Float64 && t.Kind() != reflect.String {
		return nil
	}
	err := n.Decode(reflect.New(t).Interface())
	whole := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && !duration
	switch {
	case err == nil && (!whole || n.ShortTag() == "!!int"): // the library would take 1.5 as 1
		return nil
	case duration:
		return wants(n, "a duration such as 5s or 1m30s")
	case whole:
		return wants(n, "a whole number such as 12")
	case t.Kind() == reflect.Float64:
		return wants(n, "a number such as 500")
	case t.Kind() == reflect.Bool:
		return wants(n, "true or false")
	case errors.As(err, new(*yaml.TypeError)):
		return wants(n, "a mapping (name: value lines)")
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // url.Error quotes the URL whole, a proxy's password too
	}
	return fail(n, field, "%v", err) // a settings type's own check, as prometheus/common words it
}

// fieldsOf maps the YAML names of struct t's fields to their types; rest
// is the type of its map that takes the keys of no field (yaml:",inline",
// as prometheus/common's Headers has), or nil.
func fieldsOf(t reflect.Type) (fields map[string]reflect.Type, rest reflect.Type) {
	fields = map[string]reflect.Type{}
	for i := 0; t.Kind() == reflect.Struct && i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case opts == "inline" && f.Type.Kind() == reflect.Map:
			rest = cmp.Or(rest, f.Type)
		case opts == "inline":
			sub, r := fieldsOf(f.Type)
			maps.Copy(fields, sub)
			rest = cmp.Or(rest, r)
		case f.IsExported() && name != "-":
			fields[cmp.Or(name, strings.ToLower(f.Name))] = f.Type
		}
	}
	return fields, rest
}

// nearest suggests the known field closest to a mistyped one, within
// three edits or cut short, ignoring _ and -.
func nearest(typo string, fields map[string]reflect.Type) string {
	norm := strings.NewReplacer("_", "", "-", "").Replace
	a, best, dist := norm(strings.ToLower(typo)), "", 4
	for f := range fields {
		b := norm(f)
		if d := levenshtein.ComputeDistance(a, b); d < dist || d == dist && f < best || strings.HasPrefix(b, a) && dist > 3 {
			best, dist = f, min(d, 3)
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
