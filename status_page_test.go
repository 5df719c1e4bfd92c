package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// TestStatusPageBehindBasicAuth: the status page, its JSON and the debug
// probe are under --web.config.file's basic auth, as every other path.
func TestStatusPageBehindBasicAuth(t *testing.T) {
	_, url := fakeAPI(t, canaryKey)
	t.Setenv("SUNOR_API_KEY", canaryKey)
	web := filepath.Join(t.TempDir(), "web.yml")
	// bcrypt (cost 4) of "page-pass".
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  admin: $2a$04$mnhoaitrAFr2rJhgdat.TOJ/C8bWKVlWGaBwKr4fR.1Q2lxvqszPe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, "--sunor.url="+url, "--web.config.file="+web)
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:page-pass"))}}
	for _, p := range []string{"/", "/status?format=json", "/probe?account=default&debug=true"} {
		code, _, err := testtool.Request(context.Background(), http.MethodGet, e.url+p, nil)
		if err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %v, want 401", p, code, err)
		}
		code, body, err := testtool.Request(context.Background(), http.MethodGet, e.url+p, auth)
		if err != nil || code != 200 || !strings.Contains(body, "default") || strings.Contains(body, canaryKey) {
			t.Errorf("%s with credentials: %d %v %.200q", p, code, err, body)
		}
	}
}
