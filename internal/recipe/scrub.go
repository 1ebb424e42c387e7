package recipe

import (
	"bytes"
	"encoding/json"
)

// Scrub returns the trace with f applied to every string it holds: the
// agent passes its secret mask, so that no secret value — typed, shown in
// a page's text, or carried in a URL — is ever stored in a recipe.
func (t Trace) Scrub(f func(string) string) (Trace, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return Trace{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Trace{}, err
	}
	if b, err = json.Marshal(scrub(v, f)); err != nil {
		return Trace{}, err
	}
	var out Trace
	err = json.Unmarshal(b, &out)
	return out, err
}

func scrub(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = scrub(x[i], f)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = scrub(e, f)
		}
	}
	return v
}
