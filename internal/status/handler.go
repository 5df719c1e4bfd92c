package status

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sunor-community/sunor_exporter/collector"
)

// Options configure the page.
type Options struct {
	MetricsPath string // --web.telemetry-path, linked from the page
	Version     string // version.Info()
	// Now is the page's clock; tests set it. Default time.Now.
	Now func() time.Time
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"clock": clock,
	"credits": func(v *float64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	},
	"usd": func(v *float64) string {
		if v == nil {
			return ""
		}
		return "$" + strconv.FormatFloat(*v, 'f', 2, 64)
	},
	"deref":  func(v *float64) float64 { return *v },
	"states": func() []string { return states },
	"num":    func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"age": func(s *float64) string {
		if s == nil {
			return "never"
		}
		return humanAge(time.Duration(*s * float64(time.Second)))
	},
	"ms":   func(d time.Duration) string { return collector.RoundDuration(d).String() },
	"kind": func(k string) string { return strings.ReplaceAll(k, " ", "-") },
	"labels": func(l map[string]string) string {
		var b strings.Builder
		for i, k := range slices.Sorted(maps.Keys(l)) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + l[k])
		}
		return b.String()
	},
	"counts": func(c map[string]int) []countOf {
		var out []countOf
		for _, k := range states {
			if c[k] > 0 {
				out = append(out, countOf{k, c[k]})
			}
		}
		return out
	},
}).Parse(pageHTML))

type countOf struct {
	Kind string
	N    int
}

type view struct {
	Page
	Options
	Now time.Time
}

// humanAge writes an age as a person reads it: 40s, 3m10s, 2h5m, 3d.
func humanAge(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// Handler serves the status page at / and /status: HTML, or JSON with
// ?format=json or Accept: application/json. Any other path is 404, as
// http.ServeMux's "/" pattern would otherwise take every unknown path.
func Handler(e *collector.Exporter, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		now := o.Now()
		p := Build(e.Status(), e.RecentCalls(), ParseFilter(r.URL.Query()), now)
		var b bytes.Buffer
		if wantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(&b).Encode(p)
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := page.Execute(&b, view{Page: p, Options: o, Now: now}); err != nil {
				http.Error(w, "cannot render the status page: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		// A client that never reads must not hold a slot of
		// --web.max-requests: the page is larger than a socket's buffers.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(collector.DefaultWriteTimeout))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		_, _ = w.Write(b.Bytes())
	})
}

func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}
