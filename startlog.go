package main

import (
	"fmt"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/accounts"
	"github.com/sunor-community/sunor_exporter/internal/keydir"
)

// Start-up speaks in proportion: one line for all the accounts, however
// many, so that 10 000 accounts neither flood the log nor hold up serving.
const (
	firstNamesLogged  = 5  // names on the start-up line
	firstNamesChecked = 20 // names --config.check prints
)

// firstNames is the first n names of accts, joined, and how many more.
func firstNames(accts []accounts.Account, n int) string {
	names := make([]string, 0, min(n, len(accts)))
	for _, a := range accts[:min(n, len(accts))] {
		names = append(names, a.Name)
	}
	s := strings.Join(names, ", ")
	if more := len(accts) - len(names); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// sources says where the accounts come from, with how many from each: the
// accounts file, the key directory, the flags.
func sources(accts []accounts.Account, file, dir string, entries []keydir.Entry) string {
	files := make(map[string]bool, len(entries))
	for _, e := range entries {
		files[e.Path] = true
	}
	fromDir := 0
	for _, a := range accts {
		if files[a.APIKeyFile] {
			fromDir++
		}
	}
	var s []string
	if rest := len(accts) - fromDir; rest > 0 && file != "" {
		s = append(s, fmt.Sprintf("accounts file %s: %d", file, rest))
	} else if rest > 0 {
		s = append(s, fmt.Sprintf("flags: %d", rest))
	}
	if fromDir > 0 || dir != "" {
		s = append(s, fmt.Sprintf("key directory %s: %d", dir, fromDir))
	}
	return strings.Join(s, ", ")
}

// logAccounts logs the accounts at start: one info line (count, sources,
// the first few names), and each account's settings at debug.
func logAccounts(logger log.Logger, accts []accounts.Account, file, dir string, entries []keydir.Entry) {
	_ = level.Info(logger).Log("msg", "Exporting Sunor accounts", "count", len(accts), "sources", sources(accts, file, dir, entries),
		"accounts", firstNames(accts, firstNamesLogged))
	for _, a := range accts {
		_ = level.Debug(logger).Log("msg", "Exporting Sunor account", "account", a.Name, "url", a.URL, "timeout", a.Timeout, "cache_ttl", a.CacheTTL,
			"max_calls_per_minute", a.MaxCallsPerMinute, "rate_limit_reserve", a.RateLimitReserve)
	}
}

// checkSummary is what --config.check prints on success: the count and at
// most the first firstNamesChecked names.
func checkSummary(accts []accounts.Account) string {
	return fmt.Sprintf("OK: %d account(s): %s", len(accts), firstNames(accts, firstNamesChecked))
}
