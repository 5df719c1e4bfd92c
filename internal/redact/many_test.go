package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// shortKeys are the load script's keys: key-1 … key-n, shorter than
// MinPiece, so matched whole.
func shortKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i+1)
	}
	return keys
}

// longKeys are n keys of 30 characters.
func longKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("sk-live-%022d", i*7919+1)
	}
	return keys
}

// TestShortKeysWhole: each of 10 000 five-to-nine-character keys is
// redacted whole, in any case, and in the encodings long enough to be
// pieces; their common prefix alone is not.
func TestShortKeysWhole(t *testing.T) {
	keys := shortKeys(10_000)
	s := NewSet(len(keys))
	for _, k := range keys {
		s.Add(k)
	}
	for in, want := range map[string]string{
		"account a uses key-1 and KEY-42, not key-":                             "account a uses <redacted> and <redacted>, not key-",
		"key-9999,key-10000;key-5":                                              "<redacted>,<redacted>;<redacted>",
		"hex " + hex.EncodeToString([]byte("key-77")):                           "hex <redacted>",
		"b64 " + base64.StdEncoding.EncodeToString([]byte("key-7777")) + " end": "b64 <redacted>c= end", // the last character holds a byte after the key
		"a monkey-wrench and key-x stay":                                        "a monkey-wrench and key-x stay",
	} {
		if got := s.Clean(in, 500); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManyLongKeys: with 5 000 keys in use (BenchmarkClean goes to 20 000), any one of them is redacted
// in every encoding, whole or as a piece; a key not in use is kept.
func TestManyLongKeys(t *testing.T) {
	keys := longKeys(5_000)
	r := New(keys...)
	for _, k := range []string{keys[0], keys[2_500], keys[4_999]} {
		for name, form := range map[string]string{
			"as sent": k, "upper case": strings.ToUpper(k), "piece": k[7:19],
			"hex": hex.EncodeToString([]byte(k)), "base64": base64.StdEncoding.EncodeToString([]byte("u:" + k)),
		} {
			got := r.Clean("before "+form+" after", 500)
			if !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") || !strings.Contains(got, Redacted) {
				t.Errorf("%s of %s: %q", name, k, got)
			}
			if p := leak(got, form); p != "" {
				t.Errorf("%s of %s: %q shows %q", name, k, got, p)
			}
		}
	}
	other := "sk-test-ABCDEFGHIJKLMNOPQRSTUV"
	if got := r.Clean("other "+other, 500); got != "other "+other {
		t.Errorf("a key not in use: %q", got)
	}
}

// TestCleanWhileAdding: the log path cleans while keys are added (run with
// -race): every key added before a Clean began is redacted by it.
func TestCleanWhileAdding(t *testing.T) {
	keys := longKeys(3000)
	s := NewSet(len(keys))
	added := make(chan int, len(keys))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, k := range keys {
			s.Add(k)
			added <- i
		}
		close(added)
	})
	for i := range added {
		if got := s.Clean("x "+keys[i]+" y", 100); got != "x "+Redacted+" y" {
			t.Fatalf("key %d added, Clean = %q", i, got)
		}
	}
	wg.Wait()
}

// TestLongRunIsCut: pieces of keys that overlap for longer than the input
// Clean reads make one run; the cut still says how long the text was.
func TestLongRunIsCut(t *testing.T) {
	r := New(strings.Repeat("a", 40))
	got := r.Clean(strings.Repeat("a", 100_000)+"tail", 20)
	if got != Redacted+"... (100004 bytes in all)" {
		t.Errorf("Clean = %q", got)
	}
}

// TestWriterCutJSONStaysJSON: a JSON log line too long to keep whole is
// cut value by value: one valid JSON object, the short fields whole, the
// long one cut saying how long it was, every key redacted.
func TestWriterCutJSONStaysJSON(t *testing.T) {
	const key = "sk-live-0123456789abcdefghij"
	s := NewSet(2)
	s.Add(key)
	var out strings.Builder
	w := Writer(&out, s)
	line := fmt.Sprintf(`{"caller":"x.go:1","level":"warn","msg":"Unsolicited response %s","pad":"%s \"quoted\" %s","n":12}`+"\n",
		key, strings.Repeat("p", 5000), key)
	if _, err := w.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSuffix(out.String(), "\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatalf("not JSON (%v): %.300s", err, got)
	}
	if v["level"] != "warn" || v["caller"] != "x.go:1" || v["msg"] != "Unsolicited response "+Redacted || v["n"] != 12.0 {
		t.Errorf("fields changed: %v", v)
	}
	if pad, _ := v["pad"].(string); !strings.HasSuffix(pad, "... (5038 bytes in all)") {
		t.Errorf("pad = %.100q…%q, want it cut with its length", pad, pad[max(0, len(pad)-40):])
	}
	if n := utf8.RuneCountInString(got); n > MaxLineChars+cutMarkChars {
		t.Errorf("a line of %d characters", n)
	}
	if p := leak(got, key); p != "" {
		t.Errorf("the line shows %q", p)
	}
}
