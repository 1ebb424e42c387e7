package monitor

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/errandhq/errand/internal/task"
)

// MaxChanges caps the changes listed for one run (in the history and the
// webhook); a run with more says Truncated.
const MaxChanges = 500

// Comparer compares two answers of one output type as a Notify asks.
// Build it with NewComparer; it is safe for concurrent use.
type Comparer struct {
	kind   task.OutputType
	watch  [][]string
	key    string
	ignore []*regexp.Regexp
}

// NewComparer prepares the comparison of answers of output type kind.
// Its errors are those Check reports field by field.
func NewComparer(kind task.OutputType, n Notify) (*Comparer, error) {
	c := &Comparer{kind: kind, key: n.Key}
	for _, w := range n.Watch {
		tokens, err := splitPointer(w)
		if err != nil {
			return nil, fmt.Errorf("watch %q: %w", w, err)
		}
		c.watch = append(c.watch, tokens)
	}
	for _, pat := range n.Ignore {
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("ignore %q: %w", pat, err)
		}
		c.ignore = append(c.ignore, re)
	}
	return c, nil
}

// Diff lists what changed from before to after, the changes the watch list
// sees, in document order, at most MaxChanges (then truncated is true).
// Answers that do not decode as their type (never the case for a task's
// validated answer) are compared as whole texts.
func (c *Comparer) Diff(before, after string) (changes []Change, truncated bool) {
	d := differ{c: c}
	if c.kind == task.OutputJSON || c.kind == task.OutputCSV {
		b, berr := decodeAnswer(c.kind, before)
		a, aerr := decodeAnswer(c.kind, after)
		if berr == nil && aerr == nil {
			d.walk(nil, b, a, true, true, nil)
			return d.changes, d.truncated
		}
		if before != after {
			d.add(nil, Change{Kind: KindChanged, Before: jsonString(before), After: jsonString(after)})
		}
		return d.changes, d.truncated
	}
	d.lines(before, after)
	return d.changes, d.truncated
}

// Initial lists a first answer as changes from nothing: every watched
// member, item, row or line of it as added.
func (c *Comparer) Initial(after string) (changes []Change, truncated bool) {
	d := differ{c: c}
	if c.kind == task.OutputJSON || c.kind == task.OutputCSV {
		a, err := decodeAnswer(c.kind, after)
		if err != nil {
			d.add(nil, Change{Kind: KindAdded, After: jsonString(after)})
			return d.changes, d.truncated
		}
		switch a.(type) {
		case map[string]any:
			d.walk(nil, map[string]any{}, a, true, true, nil)
		case []any:
			d.walk(nil, []any{}, a, true, true, nil)
		default:
			d.walk(nil, nil, a, false, true, nil)
		}
		return d.changes, d.truncated
	}
	d.lines("", after)
	return d.changes, d.truncated
}

// differ collects the changes of one Diff.
type differ struct {
	c         *Comparer
	changes   []Change
	truncated bool
}

// add records ch at path tokens if the watch list sees it.
func (d *differ) add(path []string, ch Change) {
	if len(d.c.watch) > 0 && !slices.ContainsFunc(d.c.watch, func(w []string) bool { return agree(w, path) }) {
		return
	}
	if len(d.changes) >= MaxChanges {
		d.truncated = true
		return
	}
	ch.Path = joinPointer(path)
	d.changes = append(d.changes, ch)
}

// sees reports whether anything at or under path can be watched: walking
// a subtree no watch pattern agrees with is wasted work.
func (d *differ) sees(path []string) bool {
	return len(d.c.watch) == 0 || slices.ContainsFunc(d.c.watch, func(w []string) bool { return agree(w, path) })
}

// walk compares b and a (present when hasB, hasA) at path; key is the key
// value of the innermost matched item.
func (d *differ) walk(path []string, b, a any, hasB, hasA bool, key json.RawMessage) {
	if !d.sees(path) {
		return
	}
	switch {
	case !hasB && !hasA:
		return
	case !hasB:
		d.add(path, Change{Kind: KindAdded, Key: key, After: encodeValue(a)})
		return
	case !hasA:
		d.add(path, Change{Kind: KindRemoved, Key: key, Before: encodeValue(b)})
		return
	}
	switch bv := b.(type) {
	case map[string]any:
		if av, ok := a.(map[string]any); ok {
			d.objects(path, bv, av, key)
			return
		}
	case []any:
		if av, ok := a.([]any); ok {
			d.arrays(path, bv, av, key)
			return
		}
	}
	if !d.c.equalScalars(b, a) {
		d.add(path, Change{Kind: KindChanged, Key: key, Before: encodeValue(b), After: encodeValue(a)})
	}
}

func (d *differ) objects(path []string, b, a map[string]any, key json.RawMessage) {
	names := make([]string, 0, len(b)+len(a))
	for k := range b {
		names = append(names, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		bv, hasB := b[k]
		av, hasA := a[k]
		d.walk(append(path[:len(path):len(path)], k), bv, av, hasB, hasA, key)
	}
}

func (d *differ) arrays(path []string, b, a []any, key json.RawMessage) {
	at := func(i int) []string { return append(path[:len(path):len(path)], strconv.Itoa(i)) }
	bk, bok := d.c.keys(b)
	ak, aok := d.c.keys(a)
	if !bok || !aok {
		// By position.
		for i := 0; i < max(len(a), len(b)); i++ {
			switch {
			case i < len(a) && i < len(b):
				d.walk(at(i), b[i], a[i], true, true, key)
			case i < len(a):
				d.walk(at(i), nil, a[i], false, true, key)
			default:
				d.walk(at(i), b[i], nil, true, false, key)
			}
		}
		return
	}
	// By key: changed and added items where they are now, removed ones
	// where they were.
	where := make(map[string]int, len(bk))
	for i, k := range bk {
		where[k] = i
	}
	kept := make(map[string]bool, len(ak))
	for i, k := range ak {
		kv := json.RawMessage(k)
		if j, ok := where[k]; ok {
			kept[k] = true
			d.walk(at(i), b[j], a[i], true, true, kv)
		} else {
			d.walk(at(i), nil, a[i], false, true, kv)
		}
	}
	for j, k := range bk {
		if !kept[k] {
			d.walk(at(j), b[j], nil, true, false, json.RawMessage(k))
		}
	}
}

// keys returns the key values (as JSON text) of an array's items, when
// the Comparer has a key and every item is an object with a distinct
// scalar value under it; else ok is false and items match by position.
func (c *Comparer) keys(items []any) (keys []string, ok bool) {
	if c.key == "" {
		return nil, false
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		obj, isObj := it.(map[string]any)
		if !isObj {
			return nil, false
		}
		v, has := obj[c.key]
		if !has {
			return nil, false
		}
		switch v.(type) {
		case string, json.Number, bool:
		default:
			return nil, false
		}
		k := string(encodeValue(v))
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys, true
}

// equalScalars compares two leaves: numbers by value, strings after
// removing the ignore patterns, anything else (including a type change)
// by its JSON text.
func (c *Comparer) equalScalars(b, a any) bool {
	switch bv := b.(type) {
	case json.Number:
		if av, ok := a.(json.Number); ok {
			return numbersEqual(bv, av)
		}
	case string:
		if av, ok := a.(string); ok {
			return c.clean(bv) == c.clean(av)
		}
	}
	return bytes.Equal(encodeValue(b), encodeValue(a))
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(string(a), 64)
	y, err2 := strconv.ParseFloat(string(b), 64)
	return err1 == nil && err2 == nil && x == y
}

// clean removes the ignore patterns from s.
func (c *Comparer) clean(s string) string {
	for _, re := range c.ignore {
		s = re.ReplaceAllString(s, "")
	}
	return s
}

// maxLines bounds the lines of a text answer compared line by line (each
// distinct line becomes one rune of the sequences diffed); beyond it the
// answers are compared whole.
const maxLines = 1 << 20

// lines diffs two text answers line by line, after removing the ignore
// patterns from each line. Paths are "/N", line N of the new answer
// (added) or of the previous one (removed); values are the lines as
// written.
func (d *differ) lines(before, after string) {
	bl, al := splitLines(before), splitLines(after)
	ids := map[string]rune{}
	encode := func(lines []string) []rune {
		out := make([]rune, len(lines))
		for i, l := range lines {
			l = d.c.clean(l)
			id, ok := ids[l]
			if !ok {
				// Supplementary-plane runes: valid, so they survive the
				// library's conversions to string.
				id = rune(0x10000 + len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	if len(bl)+len(al) > maxLines {
		if before != after {
			d.add(nil, Change{Kind: KindChanged, Before: jsonString(before), After: jsonString(after)})
		}
		return
	}
	br, ar := encode(bl), encode(al)
	dmp := diffmatchpatch.New()
	// Bounded: two huge, wholly different answers get a coarser line list
	// (still a true one) rather than minutes of diffing.
	dmp.DiffTimeout = 2 * time.Second
	i, j := 0, 0 // next line of before, of after
	for _, df := range dmp.DiffMainRunes(br, ar, false) {
		n := utf8.RuneCountInString(df.Text)
		switch df.Type {
		case diffmatchpatch.DiffEqual:
			i += n
			j += n
		case diffmatchpatch.DiffDelete:
			for k := 0; k < n; k++ {
				d.add([]string{strconv.Itoa(i)}, Change{Kind: KindRemoved, Before: jsonString(bl[i])})
				i++
			}
		case diffmatchpatch.DiffInsert:
			for k := 0; k < n; k++ {
				d.add([]string{strconv.Itoa(j)}, Change{Kind: KindAdded, After: jsonString(al[j])})
				j++
			}
		}
	}
}

// splitLines splits a text answer into lines without their ends; a final
// line break adds no empty line, and "\r\n" counts as one break.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return strings.Split(s, "\n")
}

// decodeAnswer reads an answer as the document watch pointers and rules
// address: a JSON answer as itself (numbers kept as written), a CSV answer
// as an array of row objects (column name to cell text).
func decodeAnswer(kind task.OutputType, s string) (any, error) {
	if kind == task.OutputCSV {
		return decodeCSV(s)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("monitor: text after the JSON answer")
	}
	return v, nil
}

func decodeCSV(s string) (any, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	records, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	rows := []any{}
	if len(records) == 0 {
		return rows, nil
	}
	header := records[0]
	for _, rec := range records[1:] {
		row := make(map[string]any, len(header))
		for i, col := range header {
			if i < len(rec) {
				row[col] = rec[i]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// encodeValue writes a decoded value as compact JSON, HTML characters
// unescaped.
func encodeValue(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage("null") // decoded JSON always encodes
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func jsonString(s string) json.RawMessage { return encodeValue(s) }
