package accounts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	commoncfg "github.com/prometheus/common/config"

	"github.com/sunor-community/sunor_exporter/internal/apikey"
	"github.com/sunor-community/sunor_exporter/internal/sunor"
)

// TestRedirectsStayOff: follow_redirects: true in http_client_config does
// not make the client follow a redirect, so the key goes nowhere else.
func TestRedirectsStayOff(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer elsewhere.Close()
	api := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/api/v1/account/balance", http.StatusTemporaryRedirect))
	defer api.Close()

	hc := commoncfg.DefaultHTTPClientConfig
	hc.FollowRedirects = true
	base, _ := sunor.ParseBaseURL(api.URL)
	c, err := NewClient(base, apikey.Static("k"), hc, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Balance(context.Background())
	var e *sunor.Error
	if !errors.As(err, &e) || e.Reason != sunor.ReasonRedirect {
		t.Errorf("err = %v, want a redirect failure", err)
	}
	if reached.Load() != 0 {
		t.Error("the redirect was followed")
	}
}
