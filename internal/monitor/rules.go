package monitor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Condition names the one condition a rule sets.
func (r Rule) Condition() string {
	switch {
	case r.Below != nil:
		return "below"
	case r.Above != nil:
		return "above"
	case r.Equals != nil:
		return "equals"
	case r.ChangeByPercent != nil:
		return "changeByPercent"
	case r.ChangeByAbsolute != nil:
		return "changeByAbsolute"
	}
	return ""
}

// conditions counts the conditions a rule sets (a valid rule sets one).
func (r Rule) conditions() int {
	n := 0
	for _, set := range []bool{r.Below != nil, r.Above != nil, r.Equals != nil, r.ChangeByPercent != nil, r.ChangeByAbsolute != nil} {
		if set {
			n++
		}
	}
	return n
}

// relative reports whether the rule compares with the value last notified
// (changeBy rules) rather than with a fixed threshold.
func (r Rule) relative() bool { return r.ChangeByPercent != nil || r.ChangeByAbsolute != nil }

// fingerprint identifies a rule's content, so that its state follows it
// and an edited rule starts afresh.
func (r Rule) fingerprint() string {
	b, _ := json.Marshal(r) // plain fields: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Evaluation is what rules say about one answer.
type Evaluation struct {
	// Fired are the rules that fire, in the rules' order.
	Fired []Fired
	// States are the rules' states after this answer, one per rule.
	States []RuleState
}

// Evaluate judges rules against a decoded answer (see decodeAnswer), given
// their states after the previous answer (matched by fingerprint; missing
// or stale ones start afresh).
//
//   - A threshold rule (below, above, equals) fires when its condition
//     holds now and did not at the last known value; it re-arms only when
//     the value stops holding (hysteresis: a price that stays low alerts
//     once). A fresh rule counts as not holding, so a condition that holds
//     on the first judged answer fires.
//   - A changeBy rule fires when the value is far enough from its
//     reference, the value last notified (see Notified); a fresh rule has
//     no reference yet and takes the current value as one.
//   - A value that is missing or not a number (for equals: not a scalar)
//     leaves the rule as it was: unknown is not a crossing.
func Evaluate(rules []Rule, states []RuleState, doc any) Evaluation {
	ev := Evaluation{States: make([]RuleState, len(rules))}
	for i, r := range rules {
		st := stateFor(r, i, states)
		ev.States[i] = st
		tokens, err := splitPointer(r.Path)
		if err != nil {
			continue
		}
		v, ok := resolve(doc, tokens)
		if !ok {
			continue
		}
		if r.relative() {
			x, isNum := number(v)
			if !isNum {
				continue
			}
			if st.Reference == nil {
				ev.States[i].Reference = &x
				continue
			}
			if r.moved(*st.Reference, x) {
				ev.Fired = append(ev.Fired, Fired{Rule: r, Value: encodeValue(v), Reference: ptr(*st.Reference)})
			}
			continue
		}
		holds, known := r.holds(v)
		if !known {
			continue
		}
		if holds && !st.Holding {
			ev.Fired = append(ev.Fired, Fired{Rule: r, Value: encodeValue(v)})
		}
		ev.States[i].Holding = holds
	}
	return ev
}

// Notified moves the references of changeBy rules to the answer's values:
// called when a notification carrying that answer is sent, so the next
// change is measured from what the receiver last saw.
func Notified(rules []Rule, states []RuleState, doc any) []RuleState {
	out := make([]RuleState, len(rules))
	for i, r := range rules {
		out[i] = stateFor(r, i, states)
		if !r.relative() {
			continue
		}
		tokens, err := splitPointer(r.Path)
		if err != nil {
			continue
		}
		if v, ok := resolve(doc, tokens); ok {
			if x, isNum := number(v); isNum {
				out[i].Reference = &x
			}
		}
	}
	return out
}

// stateFor is rule i's state if states has it for this rule, else a fresh
// one.
func stateFor(r Rule, i int, states []RuleState) RuleState {
	fp := r.fingerprint()
	if i < len(states) && states[i].Rule == fp {
		return states[i]
	}
	return RuleState{Rule: fp}
}

// holds judges a threshold rule; known is false when v cannot be judged.
func (r Rule) holds(v any) (holds, known bool) {
	if r.Equals != nil {
		return equalsJSON(v, r.Equals)
	}
	x, ok := number(v)
	if !ok {
		return false, false
	}
	switch {
	case r.Below != nil:
		return x < *r.Below, true
	case r.Above != nil:
		return x > *r.Above, true
	}
	return false, false
}

// moved judges a changeBy rule from reference ref to x.
func (r Rule) moved(ref, x float64) bool {
	d := math.Abs(x - ref)
	switch {
	case r.ChangeByAbsolute != nil:
		return d > 0 && d >= *r.ChangeByAbsolute
	case r.ChangeByPercent != nil:
		if ref == 0 {
			return x != 0 // any move away from zero is infinitely many percent
		}
		return d > 0 && d/math.Abs(ref)*100 >= *r.ChangeByPercent
	}
	return false
}

// equalsJSON compares a decoded scalar with a rule's JSON value: numbers by
// value (a CSV cell or numeric string counts as its number), others by
// their JSON text.
func equalsJSON(v any, want json.RawMessage) (equal, known bool) {
	switch v.(type) {
	case map[string]any, []any:
		return false, false
	}
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.UseNumber()
	var w any
	if err := dec.Decode(&w); err != nil {
		return false, false
	}
	if wn, ok := w.(json.Number); ok {
		x, isNum := number(v)
		if !isNum {
			return false, true
		}
		y, err := strconv.ParseFloat(string(wn), 64)
		return err == nil && x == y, true
	}
	return bytes.Equal(encodeValue(v), encodeValue(w)), true
}

// number reads a decoded value as a number: a JSON number, or a string
// that is one (CSV cells are text).
func number(v any) (float64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

func ptr[T any](v T) *T { return &v }
