package redact

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// cutMarkChars is about the most Clean writes past maxChars when it cuts:
// "... (N bytes in all)".
const cutMarkChars = 30

// cleanJSON cleans a line that is one JSON object (go-kit's JSON logger
// writes one per line) field by field, so that a line too long to keep
// whole stays one valid JSON object: Clean's cut of the whole line would
// end it in the middle of a string. Each key and value is redacted and
// escaped as Clean does; the values share maxChars, the short ones whole,
// the longest cut to what is left (each saying how long it was). Values
// that are not strings stay as they are unless redaction changes them,
// when they become the cleaned string. The keys come out sorted, as go-kit
// writes them. ok is false when line is not one JSON object.
func (r *Redactor) cleanJSON(line string, maxChars int) (out string, ok bool) {
	if !strings.HasPrefix(line, "{") {
		return "", false
	}
	var m map[string]json.RawMessage
	d := json.NewDecoder(strings.NewReader(line))
	if d.Decode(&m) != nil || d.More() {
		return "", false
	}
	type field struct {
		key, text string // cleaned key; the value's text, a string's decoded
		raw       json.RawMessage
		chars     int
	}
	fields := make([]*field, 0, len(m))
	budget, strs := maxChars, 0 // strs: the fields whose value is a string
	for k, v := range m {
		f := &field{key: r.Clean(k, 100), raw: v}
		var str string
		if json.Unmarshal(v, &str) == nil {
			f.text, f.raw = str, nil
		} else if c := r.Clean(string(v), maxChars); c != string(v) {
			f.text, f.raw = string(v), nil // holds a key: a string from now on
		}
		if f.raw == nil {
			f.chars = utf8.RuneCountInString(f.text)
			strs++
		}
		budget -= utf8.RuneCountInString(f.key) + len(f.raw) + 6 // quotes, colon, comma
		fields = append(fields, f)
	}
	// The shortest strings first: each takes what it needs up to an even
	// share of what is left, so that one long value does not cut the rest.
	slices.SortFunc(fields, func(a, b *field) int { return a.chars - b.chars })
	obj := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.raw != nil {
			obj[f.key] = f.raw
			continue
		}
		share := max(budget/max(strs, 1), cutMarkChars)
		c, _ := r.clean(f.text, max(share-cutMarkChars, 1))
		obj[f.key] = c
		budget -= utf8.RuneCountInString(c)
		strs--
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // <redacted>, not \u003credacted\u003e
	if e.Encode(obj) != nil {
		return "", false
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}
