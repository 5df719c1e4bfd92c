// Package baseurl checks the base URL of the Sunor API that a setting
// gives: package config refuses a bad one where the user wrote it, and
// package accounts hands it, parsed there once, to the client.
package baseurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Parse checks that raw is an absolute http or https URL with a host,
// and returns it without a trailing slash. Its errors never show a
// password or token that raw carries.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes raw whole, and other parts of it can be
		// a password (http://user:secret/x@host reads as the port
		// "secret"): only a bad %-escape or host character, a few
		// characters, is worth saying.
		var esc url.EscapeError
		var host url.InvalidHostError
		if errors.As(err, &esc) || errors.As(err, &host) {
			return nil, fmt.Errorf("not a URL: %w", errors.Unwrap(err))
		}
		return nil, errors.New("not a URL (the value is not shown: it may hold a password)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http(s) URL", redactedURL(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", redactedURL(u))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q must not carry credentials", redactedURL(u))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		// A query would go with every call and into every log line that
		// names the URL, and a token is what people put there: the value
		// is not shown.
		return nil, fmt.Errorf("must be a base URL without ?query or #fragment (the value is not shown: it may hold a token); the key goes in the key file")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// redactedURL is u for messages: its user information, the user name too (a
// token can stand there), replaced by xxxxx, as url.URL.Redacted does the
// password.
func redactedURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User("xxxxx")
	return c.String()
}
