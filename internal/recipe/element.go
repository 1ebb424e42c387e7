package recipe

import (
	"fmt"
	"strings"
	"unicode"
)

// Element describes an element the run acted on, in terms that outlive
// the run's numbering: what a person would call it (role and accessible
// name, a field's label, its visible text), what the page calls it (tag
// and key attributes, CSS and XPath paths), and where it stands among
// elements like it (its position among the visible elements of the same
// role and name, and the heading of the section around it).
type Element struct {
	// Role is the ARIA role, explicit or implied: button, link, textbox,
	// checkbox, radio, combobox, ...
	Role string `json:"role"`
	// Name is the accessible name: what a screen reader says.
	Name string `json:"name,omitempty"`
	// Label is a form field's label.
	Label string `json:"label,omitempty"`
	// Text is the visible text, cut to 120 characters.
	Text string `json:"text,omitempty"`
	Tag  string `json:"tag"`
	// Attrs are the attributes that identify an element where present:
	// id, name, type, value (buttons, checkboxes and radios only), href,
	// placeholder, data-testid, aria-label, title.
	Attrs map[string]string `json:"attrs,omitempty"`
	CSS   string            `json:"css,omitempty"`
	XPath string            `json:"xpath,omitempty"`
	// Index is the position, from 0, among the visible elements of the
	// same role and name; Count is how many there were.
	Index int `json:"index"`
	Count int `json:"count"`
	// Context is the heading of the nearest section around the element
	// (a product card's name, a form's legend).
	Context string `json:"context,omitempty"`
	// Frame is where the frame holding the element stands on the page, ""
	// for the top document: its position, from 1, among the frames its
	// parent document shows, after the parent's own ("2", "1/3").
	Frame string `json:"frame,omitempty"`
	// FrameURL is the URLPattern of the frame's document, "" for the top
	// document.
	FrameURL string `json:"frameUrl,omitempty"`
}

// Candidate is an element of the live page that a recorded Element could
// be: its number for this run's actions, and whether it is shown.
type Candidate struct {
	ID      int  `json:"id"`
	Visible bool `json:"visible"`
	Element
}

// String names the element for people and for the model:
// button "Buy" (in "Blue mug").
func (e Element) String() string {
	name := e.Name
	if name == "" {
		name = e.Label
	}
	if name == "" {
		name = e.Text
	}
	s := e.Role
	if s == "" {
		s = e.Tag
	}
	if name != "" {
		s += fmt.Sprintf(" %q", clipText(name, 60))
	}
	if e.Context != "" && Normalize(e.Context) != Normalize(name) {
		s += fmt.Sprintf(" (in %q)", clipText(e.Context, 60))
	}
	if e.FrameURL != "" {
		s += " in the frame " + e.FrameURL
	}
	return s
}

// Verdict is what Refind concluded.
type Verdict int

const (
	// Found: exactly one live element is the recorded one.
	Found Verdict = iota
	// NotFound: no live element is.
	NotFound
	// Ambiguous: several could be, and nothing tells which.
	Ambiguous
	// Hidden: the element is there but not shown (in a closed menu).
	Hidden
)

func (v Verdict) String() string {
	return [...]string{"found", "not found", "ambiguous", "hidden"}[v]
}

// Match is Refind's answer.
type Match struct {
	Verdict Verdict
	// ID is the live element's number when Found.
	ID int
	// Why explains a verdict other than Found, in words for the step log
	// and the model.
	Why string
}

// Refind decides which live candidate is the recorded element. It never
// guesses: a candidate is the element when it has the element's identity
// (its role, and its accessible name, or for a form field its label or
// its name attribute, in the top document or in a frame of the same URL
// pattern) and is the only visible one that has it; when several have it,
// a stable id or test id, the heading of its section, or an unchanged
// structure (as many alike as recorded, and the one at the recorded
// position on the recorded path) must single one out, else the answer is
// Ambiguous. Where or how the page moved it (another CSS path, another
// position, another place among the frames) does not matter when its
// identity is unique; when frames alike hold it, only the one at the
// recorded place among the frames counts.
func Refind(want Element, live []Candidate) Match {
	var shown, hidden []Candidate
	for _, c := range live {
		if !sameFrame(want, c.Element) || !sameIdentity(want, c.Element) {
			continue
		}
		if c.Visible {
			shown = append(shown, c)
		} else {
			hidden = append(hidden, c)
		}
	}
	if inFrames(shown) > 1 {
		shown = filter(shown, func(c Candidate) bool { return c.Frame == want.Frame })
		if len(shown) == 0 {
			return Match{Verdict: Ambiguous, Why: fmt.Sprintf(
				"frames like the recorded one hold %s, and none stands where the recorded one stood", want)}
		}
	}
	switch {
	case len(shown) == 0 && len(hidden) > 0:
		return Match{Verdict: Hidden, Why: fmt.Sprintf("%s is on the page but not shown (in a closed menu or panel?)", want)}
	case len(shown) == 0:
		return Match{Verdict: NotFound, Why: fmt.Sprintf("no element on the page is %s", want)}
	}
	if c, ok := singleOut(want, shown); ok {
		return Match{Verdict: Found, ID: c.ID}
	}
	if len(shown) == 1 {
		return Match{Verdict: Ambiguous, Why: fmt.Sprintf(
			"the recording chose %s among %d alike; one is left and nothing shows it is the same one", want, want.Count)}
	}
	return Match{Verdict: Ambiguous, Why: fmt.Sprintf(
		"%d elements are %s (the recording saw %d); nothing tells which one was meant", len(shown), want, max(want.Count, 1))}
}

// singleOut picks the recorded element among the visible candidates that
// have its identity, or reports that nothing singles one out.
func singleOut(want Element, shown []Candidate) (Candidate, bool) {
	if len(shown) == 1 && want.Count <= 1 {
		return shown[0], true
	}
	for _, key := range []string{"id", "data-testid"} {
		v := want.Attrs[key]
		if v == "" || !stableID(v) {
			continue
		}
		if sel := filter(shown, func(c Candidate) bool { return c.Attrs[key] == v }); len(sel) == 1 {
			return sel[0], true
		}
	}
	if ctx := Normalize(want.Context); ctx != "" {
		if sel := filter(shown, func(c Candidate) bool { return Normalize(c.Context) == ctx }); len(sel) == 1 {
			return sel[0], true
		}
	}
	if want.Count == len(shown) && want.Index >= 0 && want.Index < len(shown) && want.CSS != "" && shown[want.Index].CSS == want.CSS {
		return shown[want.Index], true
	}
	return Candidate{}, false
}

// sameFrame reports whether c is where want could be: both in the top
// document, or both in frames of the same URL pattern.
func sameFrame(want, c Element) bool {
	if want.Frame == "" || c.Frame == "" {
		return want.Frame == c.Frame
	}
	return SamePage(want.FrameURL, c.FrameURL) || SamePage(c.FrameURL, want.FrameURL)
}

// inFrames counts the documents the candidates are in.
func inFrames(cs []Candidate) int {
	seen := map[string]bool{}
	for _, c := range cs {
		seen[c.Frame] = true
	}
	return len(seen)
}

func filter(cs []Candidate, keep func(Candidate) bool) []Candidate {
	var out []Candidate
	for _, c := range cs {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// fieldRoles are the roles whose identity is their label or name
// attribute rather than their text.
var fieldRoles = map[string]bool{
	"textbox": true, "searchbox": true, "combobox": true, "listbox": true, "checkbox": true,
	"radio": true, "switch": true, "spinbutton": true, "slider": true,
}

// sameIdentity reports whether c could be want: the same role and the same
// name — for a form field its label, or its name attribute (with the value
// of a checkbox or radio, which share names across a group), or its
// placeholder when it has neither.
func sameIdentity(want, c Element) bool {
	if Normalize(want.Role) != Normalize(c.Role) {
		return false
	}
	if fieldRoles[Normalize(want.Role)] {
		if l := Normalize(want.Label); l != "" && l == Normalize(c.Label) {
			return true
		}
		if n := want.Attrs["name"]; n != "" && n == c.Attrs["name"] && want.Attrs["value"] == c.Attrs["value"] {
			return true
		}
		if want.Label == "" && want.Attrs["name"] == "" {
			if p := want.Attrs["placeholder"]; p != "" && Normalize(p) == Normalize(c.Attrs["placeholder"]) {
				return true
			}
			return want.Name != "" && Normalize(want.Name) == Normalize(c.Name)
		}
		return false
	}
	if n := Normalize(want.Name); n != "" {
		return n == Normalize(c.Name)
	}
	t := Normalize(want.Text)
	return t != "" && t == Normalize(c.Text)
}

// stableID reports whether an id looks written by a person rather than
// generated (":r1:", "ember1234", "a8f3c2e1"): a letter first, at most
// three digits, no colons.
func stableID(id string) bool {
	if id == "" || len(id) > 40 || strings.ContainsAny(id, ": ") || !unicode.IsLetter(rune(id[0])) {
		return false
	}
	digits := 0
	for _, r := range id {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	return digits <= 3
}

// Normalize is how names and texts are compared: case, runs of spaces
// and symbols at either end (an arrow, a close cross) do not count.
func Normalize(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
