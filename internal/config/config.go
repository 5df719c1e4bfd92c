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
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v3"

	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// EnvAPIKey holds the key itself in single-account mode. There is no flag
// for it: a flag's value shows in ps.
const EnvAPIKey = "SUNOR_API_KEY"

// API is what the collector needs of a Sunor client; *sunor.Client has it.
type API interface {
	Fetch(context.Context, sunor.Endpoint) ([]float64, sunor.RateLimit, error)
}

// Account is one Sunor account (one API key): its settings, as the flags,
// defaults: and its entry give them, and, once built, what the collector
// runs it with. A setting's flag is --sunor.<its yaml name, - for _>,
// unless flagNames says otherwise; `check` says what its value must be.
type Account struct {
	Name       string `yaml:"name"` // the `account` label
	APIKeyFile string `yaml:"api_key_file"`
	APIKeyEnv  string `yaml:"api_key_env"`
	// URL is the API's base URL; once built, without credentials, for logs.
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

	API API `yaml:"-"` // the client holding this account's key
	// Identity says what the account's calls are made with: key source,
	// base URL and HTTP client settings; never the YAML text, nor the
	// timeout, cache TTL, labels or policy, which the collector applies
	// to the account it keeps. Across a reload, an account with the same
	// Name and a non-empty, equal Identity keeps its state: cache,
	// back-off, budget and the call in flight.
	Identity string `yaml:"-"`
	// KeyID identifies the key without holding it (a keyed hash, with the
	// API's base URL): accounts with equal KeyIDs share one budget guard.
	// Empty: the account has a guard of its own.
	KeyID string `yaml:"-"`
	// Keys, once built, returns the key the next call sends and its KeyID,
	// read at that moment: a key file or key directory entry rotated since
	// the build is charged to the guard of the key it holds now, not of
	// the one KeyID was taken from. nil: KeyID holds for every call.
	Keys func(context.Context) (key, id string) `yaml:"-"`
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
	ClientKey string `yaml:"-"`
	entry     place  // where the entry is; none for the flags
	defaults  place
}

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
	flag, named := flagNames[top]
	if !named {
		flag = "--sunor." + strings.ReplaceAll(top, "_", "-")
	} else if flag == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", flag, msg)
}

// lookup returns the key and value nodes of key in the mapping n.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

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
	if _, err := sunor.ParseBaseURL(a.URL); err != nil {
		// user:password@host without a scheme (or with a mistyped one)
		// does not parse as credentials, and the error quotes them.
		if at := strings.LastIndex(a.URL, "@"); at >= 0 && strings.Contains(err.Error(), a.URL[:at]) {
			return a.Errorf("url", "not an http(s) URL with a host, such as https://sunor.cc; the value is not shown: it may hold a password")
		}
		return a.Errorf("url", "%v%s", err, suggestScheme(a.URL))
	}
	if err := a.HTTPClientConfig.Validate(); err != nil {
		return a.Errorf("http_client_config", "%v", err)
	}
	if len(a.Labels) > maxLabels {
		return a.Errorf("labels", "%d labels; at most %d: each is on every series of the account", len(a.Labels), maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		switch {
		case len(k) > maxValueBytes || len(a.Labels[k]) > maxValueBytes:
			return a.Errorf("labels", "a label name or value longer than %d bytes", maxValueBytes)
		case !model.LegacyValidation.IsValidLabelName(k):
			return a.Errorf("labels", "%q is not a label name (letters, digits and _, not first a digit)", k)
		case slices.Contains(reservedLabels, k) || strings.HasPrefix(k, "__"):
			return a.Errorf("labels."+k, "%q is reserved: the exporter or Prometheus sets it", k)
		case !labelValue(a.Labels[k]):
			return a.Errorf("labels."+k, "the value of %q must be non-empty UTF-8, without control characters, invisible ones (zero-width, direction overrides) or whitespace at either end", k)
		}
	}
	return nil
}

// Bounds on what the file puts on every series of an account: owner
// labels are a team and an environment, not a document.
const (
	maxLabels     = 32
	maxValueBytes = 128 // a label name or value, and the account name (as the key directory's file names)
)

// reservedLabels are set by the exporter or by Prometheus (le: the buckets
// of sunor_api_call_duration_seconds).
var reservedLabels = []string{"account", "job", "instance", "endpoint", "collector", "reason", "le"}

// ReservedLabels returns the owner label names refused besides those
// starting with "__": the Helm chart's schema refuses the same, tested.
func ReservedLabels() []string { return slices.Clone(reservedLabels) }

// checkEntry refuses an account without a name or a key, or with two
// keys; seen holds the names before it.
func (a *Account) checkEntry(seen map[string]string) error {
	if !labelValue(a.Name) {
		return a.Errorf("name", "the account name (label value) must be non-empty UTF-8, without control characters (NUL, tab, newline), invisible ones (zero-width, direction overrides) or whitespace at either end")
	}
	if len(a.Name) > maxValueBytes {
		return a.Errorf("name", "the account name is longer than %d bytes", maxValueBytes)
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

// labelValue says whether v is a label value someone means: not empty,
// UTF-8 (Prometheus rejects the rest at scrape time), without control or
// invisible characters (unseen), nor whitespace at either end (" a" and
// "a" would be two).
func labelValue(v string) bool {
	return v != "" && utf8.ValidString(v) && strings.IndexFunc(v, unseen) < 0 && strings.TrimSpace(v) == v
}

// unseen says whether c is a character a reader of a name does not see as
// such: a control character, or a format character (a zero-width space, a
// direction override that shows "a‮cba" as "aabc") that would let two names
// look alike or one pass for another.
func unseen(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }

// suggestScheme is the likely URL meant by one written without a scheme.
func suggestScheme(u string) string {
	if u == "" || strings.ContainsAny(u, ":@/ ") { // a password must not show
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", "https://"+u)
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
	d := Directory{dir, "--sunor.api-key-directory", flags}
	if err := flags.check(); err != nil {
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
		return nil, err
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

// MaxFileBytes is the largest accounts file read: far above thousands of
// accounts, far below what the exporter's memory can spare.
const MaxFileBytes = 16 << 20

// readFile reads the accounts file, refusing what is not a regular file (a
// named pipe would block the start, or a reload, for ever) or is larger
// than MaxFileBytes (/dev/zero, a log file named by mistake).
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() { // a character device is a device too
		kind := map[fs.FileMode]string{fs.ModeDir: "a directory", fs.ModeNamedPipe: "a named pipe", fs.ModeDevice: "a device"}[fi.Mode().Type()&^fs.ModeCharDevice]
		return nil, fmt.Errorf("%s is %s, not a regular file", path, cmp.Or(kind, "a special file"))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The size Stat gives may be wrong (/proc) or grow: the limit holds.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB; is it the accounts file?", path, MaxFileBytes>>20)
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
	for i, l := range strings.SplitAfter(string(b), "\n") {
		switch {
		case !utf8.ValidString(l):
			return fmt.Errorf("%s:%d: not UTF-8 text", path, i+1)
		case m != nil && strconv.Itoa(i+1) == m[1] && strings.HasPrefix(strings.TrimLeft(l, " "), "\t"):
			msg = "a tab in the indentation: YAML is indented with spaces only"
		}
	}
	return fmt.Errorf("%s: %s", where, msg)
}

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
		fields, seen := fieldsOf(t), map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub, ft := strings.TrimPrefix(field+"."+k.Value, "."), fields[k.Value]
			switch {
			case k.Kind != yaml.ScalarNode:
				return wants(k, "a name before the colon")
			case k.Value == "<<":
				sub, ft = field, t // a merge key: <<: *anchor
			case kind == reflect.Map:
				ft = t.Elem()
			case ft == nil:
				return fail(k, field, "unknown field %q%s", k.Value, nearest(k.Value, fields))
			}
			if first, dup := seen[k.Value]; dup {
				return fail(k, sub, "given twice (first on line %d)", first)
			}
			seen[k.Value] = k.Line
			if err := shape(v, ft, where, sub, done); err != nil {
				return err
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

// fieldsOf maps the YAML names of struct t's fields to their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; t.Kind() == reflect.Struct && i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case opts == "inline":
			maps.Copy(m, fieldsOf(f.Type))
		case f.IsExported() && name != "-":
			m[cmp.Or(name, strings.ToLower(f.Name))] = f.Type
		}
	}
	return m
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
