package recipe

import (
	"fmt"
	"slices"
	"strings"
)

// Fingerprint is the shape of a page's state: what tells the page a step
// should lead to from another one (the sign-in form still showing after a
// failed sign-in, an error page), while prices, counts and other content
// may change between runs. It holds no field values.
type Fingerprint struct {
	// URL is the page's URLPattern.
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
	// Marks are the page's landmarks: "h:" headings, "f:" form fields
	// (type and name or label), "c:" buttons and links (role and name),
	// normalised and sorted.
	Marks []string `json:"marks,omitempty"`
}

// PageState is what the browser reports of a page for fingerprinting: the
// raw lists, of visible elements only.
type PageState struct {
	URL      string   `json:"url"`
	Title    string   `json:"title"`
	Headings []string `json:"headings"`
	// Fields are "type|name|label" of form fields.
	Fields []string `json:"fields"`
	// Controls are "role|name" of buttons and links.
	Controls []string `json:"controls"`
	// Texts are the page's text elements, when asked for (see Snapshot).
	Texts []Text `json:"texts,omitempty"`
}

// Fingerprint reduces a page state to its fingerprint.
func (s PageState) Fingerprint() Fingerprint {
	f := Fingerprint{URL: URLPattern(s.URL), Title: Normalize(s.Title)}
	add := func(prefix string, items []string) {
		for _, it := range items {
			if m := Normalize(it); m != "" {
				f.Marks = append(f.Marks, prefix+m)
			}
		}
	}
	add("h:", s.Headings)
	add("f:", s.Fields)
	add("c:", s.Controls)
	slices.Sort(f.Marks)
	f.Marks = slices.Compact(f.Marks)
	return f
}

// Similarity is how alike two page states are, from 0 to 1: the Jaccard
// index of their landmarks, the title counting as one. Pages of different
// URL patterns are 0.
func Similarity(a, b Fingerprint) float64 {
	if !SamePage(a.URL, b.URL) && !SamePage(b.URL, a.URL) {
		return 0
	}
	inter, union := 0, 0
	if a.Title != "" || b.Title != "" {
		union++
		if a.Title == b.Title {
			inter++
		}
	}
	i, j := 0, 0
	for i < len(a.Marks) || j < len(b.Marks) {
		union++
		switch {
		case j >= len(b.Marks) || i < len(a.Marks) && a.Marks[i] < b.Marks[j]:
			i++
		case i >= len(a.Marks) || b.Marks[j] < a.Marks[i]:
			j++
		default:
			inter++
			i++
			j++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// MinSimilarity is how alike a live page must be to the recorded state to
// count as the same state: half its landmarks, so an added field, a
// renamed link or a changed product list still passes, while another page
// does not.
const MinSimilarity = 0.5

// Reached reports whether a step led where it led when recorded: the live
// page is on the recorded page (URL pattern) and looks like the recorded
// state after the step, and — when the step changed the page — more like
// it than like the state before the step (a sign-in that failed leaves the
// form showing). why says what differs.
func Reached(live Fingerprint, before *Fingerprint, after Fingerprint) (ok bool, why string) {
	if !SamePage(after.URL, live.URL) {
		return false, fmt.Sprintf("the page is %s, the recording reached %s", live.URL, after.URL)
	}
	sa := Similarity(live, after)
	if sa < MinSimilarity {
		return false, fmt.Sprintf("the page looks different from the recording (%.0f%% alike; missing: %s)", sa*100, missing(after, live))
	}
	if before != nil && Similarity(*before, after) < 0.9 {
		if sb := Similarity(live, *before); sb > sa {
			return false, fmt.Sprintf("the page still looks as it did before the step (%.0f%% alike to before, %.0f%% to after)", sb*100, sa*100)
		}
	}
	return true, ""
}

// missing lists up to five recorded landmarks the live page lacks.
func missing(rec, live Fingerprint) string {
	var out []string
	for _, m := range rec.Marks {
		if _, found := slices.BinarySearch(live.Marks, m); !found {
			out = append(out, m)
			if len(out) == 5 {
				break
			}
		}
	}
	if len(out) == 0 {
		return "nothing, but much was added"
	}
	return strings.Join(out, ", ")
}
