package redact

import (
	"bytes"
	"fmt"
	"log"
	"strings"
	"testing"
	"unicode/utf8"
)

// leak returns the first piece of MinPiece characters of key that text
// holds, in any case, or "".
func leak(text, key string) string {
	lt, lk := strings.ToLower(text), strings.ToLower(key)
	for i := 0; i+MinPiece <= len(lk); i++ {
		if strings.Contains(lt, lk[i:i+MinPiece]) {
			return key[i : i+MinPiece]
		}
	}
	return ""
}

// TestWriterRedactsEveryKeyInUse: a rotated key stays redacted next to the
// new one, through the standard log package, in a line of any length.
func TestWriterRedactsEveryKeyInUse(t *testing.T) {
	s := NewSet(8)
	old, cur := "sk-OLD-0123456789abcdef", "sk-NEW-fedcba9876543210"
	s.Add(old)
	s.Add(cur)
	var out bytes.Buffer
	l := log.New(Writer(&out, s), "", log.LstdFlags)
	l.Printf("Unsolicited response starting with %q", "HTTP/1.1 200 OK\r\nX-A: "+old+"\r\nX-B: "+strings.ToUpper(cur)+"\r\n"+strings.Repeat("p", 20_000))
	l.Print("second line with " + cur[3:15])
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
	}
	for _, line := range lines {
		for _, k := range []string{old, cur} {
			if p := leak(line, k); p != "" {
				t.Errorf("the line shows %q: %.300s", p, line)
			}
		}
		if n := utf8.RuneCountInString(line); n > MaxLineChars+40 {
			t.Errorf("a line of %d characters: %.300s", n, line)
		}
	}
	if !strings.Contains(lines[0], "bytes in all)") {
		t.Errorf("the long line was not cut with its length: %.300s", lines[0])
	}
}

// TestWriterOneLinePerLine: a Write holding a line break in the middle is
// two lines, each cleaned; control characters cannot forge a third.
func TestWriterOneLinePerLine(t *testing.T) {
	var out bytes.Buffer
	w := Writer(&out, NewSet(1))
	fmt.Fprint(w, "a\rlevel=info msg=forged\x1b[2J\nb\n")
	if got, want := out.String(), "a\\rlevel=info msg=forged\\u001b[2J\nb\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

// TestSetDropsTheLeastRecentlyUsed: the set holds at most its bound, drops
// the key used longest ago, and forgets it in the redaction too.
func TestSetDropsTheLeastRecentlyUsed(t *testing.T) {
	s := NewSet(2)
	a, b, c := "sk-AAAAAAAAAAAAAAAA", "sk-BBBBBBBBBBBBBBBB", "sk-CCCCCCCCCCCCCCCC"
	s.Add(a)
	s.Add(b)
	s.Add(a) // a is used again: b is now the oldest
	s.Add(c)
	if s.Len() != 2 {
		t.Fatalf("the set holds %d keys, want 2", s.Len())
	}
	got := s.Clean(a+" "+b+" "+c, 500)
	if want := Redacted + " " + b + " " + Redacted; got != want {
		t.Errorf("Clean = %q, want %q", got, want)
	}
	if len(s.r.needles) == 0 || len(s.r.pieces) == 0 {
		t.Fatal("no needles")
	}
	s2 := New(a, c)
	if len(s.r.pieces) != len(s2.pieces) || len(s.r.needles) != len(s2.needles) {
		t.Errorf("after dropping a key: %d pieces and %d needles, a fresh redactor of the same keys has %d and %d",
			len(s.r.pieces), len(s.r.needles), len(s2.pieces), len(s2.needles))
	}
}

// TestSetAtLeast: a set raised to the keys in use keeps them all; it is
// never lowered.
func TestSetAtLeast(t *testing.T) {
	s := NewSet(2)
	s.AtLeast(3)
	s.AtLeast(1)
	keys := []string{"sk-AAAAAAAAAAAAAAAA", "sk-BBBBBBBBBBBBBBBB", "sk-CCCCCCCCCCCCCCCC"}
	for _, k := range keys {
		s.Add(k)
	}
	if got, want := s.Clean(strings.Join(keys, " "), 500), Redacted+" "+Redacted+" "+Redacted; got != want {
		t.Errorf("Clean = %q, want %q: a key in use was dropped", got, want)
	}
}

// BenchmarkRemember is the cost the API client pays per call.
func BenchmarkRemember(b *testing.B) {
	s := NewSet(MaxKeys)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("sk-bench-%020d", i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Add(keys[i%len(keys)])
	}
}

// BenchmarkWriterLine is one log line of the exporter's size with 1000
// keys in use.
func BenchmarkWriterLine(b *testing.B) {
	s := NewSet(MaxKeys)
	for i := range 1000 {
		s.Add(fmt.Sprintf("sk-bench-%020d", i))
	}
	w := Writer(&bytes.Buffer{}, s)
	line := []byte(`time=2026-01-01T00:00:00Z level=warn caller=account.go:84 account=a msg="Sunor API call failed" endpoint=balance reason=server_error status=502 message="non-JSON body of 150 bytes"` + "\n")
	for b.Loop() {
		_, _ = w.Write(line)
	}
}

// Len is how many keys the set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used)
}
