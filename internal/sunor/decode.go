package sunor

import (
	"encoding/json"
	"fmt"
	"math"
)

// Endpoint is one read-only endpoint of the API: every one answers
// {"code":200,"data":{...}} with numbers in data.
type Endpoint struct {
	Name   string   // the `endpoint` label value, e.g. "balance"
	Path   string   // below the base URL, e.g. "/api/v1/account/balance"
	Fields []string // the numbers data must carry; Fetch returns them in this order
	// Check, when set, says why values (in Fields' order) cannot all be
	// true, or returns "". Every field must be at least 0 in any case.
	Check func(values []float64) string
}

// The endpoints the exporter knows. A new one is a value here, its metrics
// in the collector's list, and an answer in the fake API.
var (
	Balance = Endpoint{Name: "balance", Path: "/api/v1/account/balance", Fields: []string{"available", "frozen", "total"}, Check: checkBalance}
	Usage   = Endpoint{Name: "usage", Path: "/api/v1/account/usage", Fields: []string{"tasks_created", "credits_used", "credits_topped_up"}}
)

// envelope is the body every endpoint answers with. Pointers tell a field
// that is missing from one that is zero: a missing field must never become
// a made-up 0 on a dashboard.
type envelope struct {
	Code    *float64                   `json:"code"`
	Message string                     `json:"message"`
	Data    map[string]json.RawMessage `json:"data"`
}

// decode parses a body that came with HTTP 200 and returns ep.Fields' values
// in order. It fails with ReasonAPIError when the body's code is not 200 and
// with ReasonDecode when the body is not the documented shape: not JSON, no
// data object, or a field missing, null or not a number, and when its
// numbers cannot be true: a negative one, or what ep.Check refuses (a
// balance whose total is not available plus frozen). Which number of an
// impossible set is wrong cannot be told, and none is made up. Fields it does not
// know are ignored, so the API may add some. The error's strings are as
// they came: Fetch cleans them (Error.clean).
func decode(ep Endpoint, body []byte) ([]float64, error) {
	fail := func(reason Reason, format string, args ...any) error {
		return &Error{Endpoint: ep.Name, Reason: reason, StatusCode: 200, Message: fmt.Sprintf(format, args...)}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fail(ReasonDecode, "body is not the documented JSON: %v", err)
	}
	if env.Code == nil {
		return nil, fail(ReasonDecode, `body has no numeric "code"`)
	}
	if *env.Code != 200 {
		return nil, fail(ReasonAPIError, "body code %g: %s", *env.Code, env.Message)
	}
	if env.Data == nil {
		return nil, fail(ReasonDecode, `body has no "data" object`)
	}
	values := make([]float64, len(ep.Fields))
	for i, name := range ep.Fields {
		raw, ok := env.Data[name]
		var v *float64
		if ok {
			// A number out of float64's range fails here, so every value
			// returned is finite.
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fail(ReasonDecode, `"data.%s" is not a number`, name)
			}
		}
		if v == nil {
			return nil, fail(ReasonDecode, `"data.%s" is missing`, name)
		}
		if *v < 0 {
			return nil, fail(ReasonDecode, `"data.%s" is negative (%g): not exported`, name, *v)
		}
		values[i] = *v
	}
	if ep.Check != nil {
		if why := ep.Check(values); why != "" {
			return nil, fail(ReasonDecode, "%s: not exported", why)
		}
	}
	return values, nil
}

// checkBalance refuses a total that is not available plus frozen, beyond
// the rounding of the sum: one of the three is wrong, and which one cannot
// be told.
func checkBalance(v []float64) string {
	available, frozen, total := v[0], v[1], v[2]
	if sum := available + frozen; math.Abs(total-sum) > 1e-9*max(1, sum) {
		return fmt.Sprintf("total %g is not available %g + frozen %g", total, available, frozen)
	}
	return ""
}
