package sunor

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// Decode is what Fetch makes of a 200 answer's body, its error's strings
// cleaned as they are for a client whose key is "".
func Decode(ep Endpoint, body []byte) ([]float64, error) {
	v, err := decode(ep, body)
	if e, ok := err.(*Error); ok {
		e.clean("")
	}
	return v, err
}

func TestDecode(t *testing.T) {
	cases := []struct {
		body   string
		want   []float64
		reason Reason // "" for success
	}{
		{body: `{"code":200,"data":{"available":950,"frozen":10,"total":960}}`, want: []float64{950, 10, 960}},
		{body: `{"code":200,"data":{"available":950.25,"frozen":0.5,"total":950.75}}`, want: []float64{950.25, 0.5, 950.75}},
		{body: `{"code":200,"data":{"available":0,"frozen":0,"total":0}}`, want: []float64{0, 0, 0}},
		{body: `{"code":200,"data":{"available":1e3,"frozen":0,"total":1e3},"extra":true}`, want: []float64{1000, 0, 1000}},
		{body: `{"code":200,"data":{"available":5,"frozen":0,"total":5,"currency":"USD","tier":null}}`, want: []float64{5, 0, 5}},
		{body: `{"code":401,"message":"invalid API key"}`, reason: ReasonAPIError},
		{body: `{"code":500,"data":{"available":1,"frozen":1,"total":2}}`, reason: ReasonAPIError},
		{body: `{"code":"200","data":{"available":1,"frozen":1,"total":2}}`, reason: ReasonDecode},
		{body: `{"data":{"available":1,"frozen":1,"total":2}}`, reason: ReasonDecode},
		{body: `{"code":200}`, reason: ReasonDecode},
		{body: `{"code":200,"data":null}`, reason: ReasonDecode},
		{body: `{"code":200,"data":[]}`, reason: ReasonDecode},
		{body: `{"code":200,"data":{"available":950,"frozen":10}}`, reason: ReasonDecode},
		{body: `{"code":200,"data":{"available":"950","frozen":10,"total":960}}`, reason: ReasonDecode},
		{body: `{"code":200,"data":{"available":null,"frozen":10,"total":960}}`, reason: ReasonDecode},
		{body: `<html>502</html>`, reason: ReasonDecode},
		{body: ``, reason: ReasonDecode},
	}
	for _, tc := range cases {
		got, err := Decode(Balance, []byte(tc.body))
		if tc.reason == "" {
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Decode(Balance, %s) = %+v, %v; want %+v", tc.body, got, err, tc.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason != tc.reason {
			t.Errorf("Decode(Balance, %s) error = %v, want reason %s", tc.body, err, tc.reason)
		}
		if got != nil {
			t.Errorf("Decode(Balance, %s) returned numbers %+v with an error", tc.body, got)
		}
	}
}

func TestDecodeUsage(t *testing.T) {
	u, err := Decode(Usage, []byte(`{"code":200,"data":{"tasks_created":42,"credits_used":350,"credits_topped_up":1000}}`))
	if err != nil || !slices.Equal(u, []float64{42, 350, 1000}) {
		t.Fatalf("Decode(Usage) = %+v, %v", u, err)
	}
	if _, err := Decode(Usage, []byte(`{"code":200,"data":{"tasks_created":42,"credits_used":350}}`)); err == nil {
		t.Fatal("a usage body without credits_topped_up was accepted")
	}
}

// FuzzDecode: whatever the body, the decoder returns either three
// finite numbers and no error, or a classified *Error and no numbers. It
// never panics and never makes a number up.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"code":200,"data":{"available":950,"frozen":10,"total":960}}`,
		`{"code":200,"data":{"available":950.25,"frozen":0.5,"total":950.75}}`,
		`{"code":401,"message":"invalid API key"}`,
		`{"code":402,"message":"insufficient credits"}`,
		`{"code":429,"message":"rate limit exceeded"}`,
		`{"code":500,"message":"internal error"}`,
		`{"code":502,"message":"bad gateway"}`,
		`{"code":200,"data":{"tasks_created":42,"credits_used":350,"credits_topped_up":1000}}`,
		`<html><body>502 Bad Gateway</body></html>`,
		`{"code":200,"data":{"available":"950"}}`,
		`{"code":200,"data":{"available":1e400,"frozen":0,"total":0}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Decode(Balance, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Reason != ReasonDecode && e.Reason != ReasonAPIError) {
				t.Fatalf("error %v is not a decode or api_error *Error", err)
			}
			if b != nil {
				t.Fatalf("numbers %+v returned with an error", b)
			}
			return
		}
		if len(b) != len(Balance.Fields) {
			t.Fatalf("%d values for %d fields", len(b), len(Balance.Fields))
		}
		for _, v := range b {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite value in %+v", b)
			}
		}
	})
}

// TestDecodeRefusesImpossibleCredits: numbers that cannot all be true (a
// negative balance or count, a total that is not available plus frozen)
// are a decode failure naming them, never exported as if they were.
// Float rounding in the sum is not a contradiction.
func TestDecodeRefusesImpossibleCredits(t *testing.T) {
	for _, tc := range []struct {
		ep   Endpoint
		body string
		ok   bool
	}{
		{Balance, `{"code":200,"data":{"available":0.1,"frozen":0.2,"total":0.3}}`, true},
		{Balance, `{"code":200,"data":{"available":1e15,"frozen":0.5,"total":1000000000000000.5}}`, true},
		{Balance, `{"code":200,"data":{"available":-5,"frozen":5,"total":0}}`, false},
		{Balance, `{"code":200,"data":{"available":5,"frozen":-1,"total":4}}`, false},
		{Balance, `{"code":200,"data":{"available":950,"frozen":10,"total":1000}}`, false},
		{Balance, `{"code":200,"data":{"available":950,"frozen":10,"total":959.99}}`, false},
		{Usage, `{"code":200,"data":{"tasks_created":1,"credits_used":-3,"credits_topped_up":0}}`, false},
		{Usage, `{"code":200,"data":{"tasks_created":0,"credits_used":0,"credits_topped_up":0}}`, true},
	} {
		v, err := Decode(tc.ep, []byte(tc.body))
		var e *Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("Decode(%s, %s): %v, want success", tc.ep.Name, tc.body, err)
		case !tc.ok && (!errors.As(err, &e) || e.Reason != ReasonDecode):
			t.Errorf("Decode(%s, %s) = %v, %v; want a decode failure", tc.ep.Name, tc.body, v, err)
		}
	}
}
