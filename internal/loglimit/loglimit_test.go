package loglimit

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
)

// TestRepeatsBound: lines of one kind pass at most once per interval, the
// next one saying how many were held back; other kinds and other messages
// pass on their own.
func TestRepeatsBound(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	l := Repeats(log.NewLogfmtLogger(&buf), 10*time.Second, func() time.Time { return now }, []string{"Not calling"}, "reason")
	for i := range 1000 { // 1000 accounts at once
		_ = log.With(l, "account", i).Log("msg", "Not calling the API", "reason", "budget")
	}
	_ = l.Log("msg", "Not calling the API", "reason", "backoff")
	_ = l.Log("msg", "Calling again")
	_ = l.Log("msg", "Calling again")
	now = now.Add(9999 * time.Millisecond)
	_ = l.Log("msg", "Not calling the API", "reason", "budget") // still within the interval
	now = now.Add(time.Millisecond)
	_ = l.Log("msg", "Not calling the API", "reason", "budget")
	want := `account=0 msg="Not calling the API" reason=budget
msg="Not calling the API" reason=backoff
msg="Calling again"
msg="Calling again"
msg="Not calling the API" reason=budget similar_lines_held_back=1000
`
	if got := buf.String(); got != want {
		t.Errorf("logged:\n%s\nwant:\n%s", got, want)
	}
	if n := strings.Count(buf.String(), "\n"); n != 5 {
		t.Errorf("%d lines", n)
	}
}
