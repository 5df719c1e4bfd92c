package sunor

import (
	"encoding/json"
	"fmt"
)

// Balance is the answer of GET /api/v1/account/balance, in credits
// (1 credit = 0.01 USD).
type Balance struct {
	Available float64
	Frozen    float64
	Total     float64
}

// Usage is the answer of GET /api/v1/account/usage: lifetime totals.
type Usage struct {
	TasksCreated    float64
	CreditsUsed     float64
	CreditsToppedUp float64
}

// envelope is the body every endpoint answers with. Pointers tell a field
// that is missing from one that is zero: a missing field must never become
// a made-up 0 on a dashboard.
type envelope struct {
	Code    *float64        `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type balanceData struct {
	Available *float64 `json:"available"`
	Frozen    *float64 `json:"frozen"`
	Total     *float64 `json:"total"`
}

type usageData struct {
	TasksCreated    *float64 `json:"tasks_created"`
	CreditsUsed     *float64 `json:"credits_used"`
	CreditsToppedUp *float64 `json:"credits_topped_up"`
}

// DecodeBalance parses a balance body that came with HTTP 200. It fails with
// ReasonAPIError when the body's code is not 200 and ReasonDecode when the
// body is not the documented shape.
func DecodeBalance(body []byte) (Balance, error) {
	var d balanceData
	if err := decodeEnvelope(EndpointBalance, body, &d); err != nil {
		return Balance{}, err
	}
	if err := requireFields(EndpointBalance, field{"available", d.Available}, field{"frozen", d.Frozen}, field{"total", d.Total}); err != nil {
		return Balance{}, err
	}
	return Balance{Available: *d.Available, Frozen: *d.Frozen, Total: *d.Total}, nil
}

// DecodeUsage parses a usage body that came with HTTP 200, like DecodeBalance.
func DecodeUsage(body []byte) (Usage, error) {
	var d usageData
	if err := decodeEnvelope(EndpointUsage, body, &d); err != nil {
		return Usage{}, err
	}
	if err := requireFields(EndpointUsage, field{"tasks_created", d.TasksCreated}, field{"credits_used", d.CreditsUsed}, field{"credits_topped_up", d.CreditsToppedUp}); err != nil {
		return Usage{}, err
	}
	return Usage{TasksCreated: *d.TasksCreated, CreditsUsed: *d.CreditsUsed, CreditsToppedUp: *d.CreditsToppedUp}, nil
}

func decodeEnvelope(ep Endpoint, body []byte, data any) error {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: "body is not the documented JSON: " + err.Error()}
	}
	if env.Code == nil {
		return &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: `body has no numeric "code"`}
	}
	if *env.Code != 200 {
		return &Error{Endpoint: ep, Reason: ReasonAPIError, StatusCode: 200, Message: fmt.Sprintf("body code %g: %s", *env.Code, env.Message)}
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: `body has no "data"`}
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: `"data" is not the documented object: ` + err.Error()}
	}
	return nil
}

// field is one number of "data", nil when the body left it out.
type field struct {
	name  string
	value *float64
}

// requireFields fails on the first field the body left out.
func requireFields(ep Endpoint, fields ...field) error {
	for _, f := range fields {
		if f.value == nil {
			return &Error{Endpoint: ep, Reason: ReasonDecode, StatusCode: 200, Message: fmt.Sprintf(`"data.%s" is missing`, f.name)}
		}
	}
	return nil
}
