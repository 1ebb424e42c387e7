// Package extract is errand's built-in extractor: it answers a task from a
// fetched page without a language model, in the three output shapes of the
// API.
//
// It reads what the page itself declares — JSON-LD, microdata, OpenGraph and
// other meta tags, headings, elements named by class, tables and repeated
// lists, and the readable main text — and maps that onto what was asked,
// matching names through synonyms (a schema's "title" is a product's "name")
// and converting to the schema's types ("$1,299.99" is 1299.99). It never
// invents: a value the page does not give is left out, and a required one
// that is missing fails the task with a message naming it.
//
// A wrong value is worse than a missing one, since the caller stores it.
// So every field is answered from candidates (candidates.go): each value a
// source gives, ranked by how clearly it is the field — the main heading
// for a name; declared data, exactly named elements and labelled rows;
// then meta tags, words of class names and plain-text cues. The best rank
// decides and all its candidates must agree, or the field is not answered.
// Before that, what a reader would not take for the page's current value
// is set aside (furniture.go): hidden elements, struck-through and "was"
// prices, navigation, cookie banners, footers, and blocks about other
// things such as related products; and so are implausible values, such as
// a link standing for a person or the site's name standing for a headline.
package extract

import (
	"errors"
	"fmt"
	"strings"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// Page is a fetched document.
type Page struct {
	// URL is the page's final address; relative links resolve against it.
	URL  string
	HTML []byte
}

// Request is what the task asked for.
type Request struct {
	Type task.OutputType
	// Schema is the compiled outputSchema of a structured_json task.
	Schema *output.Schema
	// Columns are the CSV columns of a structured_csv task.
	Columns []string
	// Instruction is the task's taskDetails. The extractor answers from the
	// page's structure alone and does not read it; it is here so that the
	// request has one shape for every answerer.
	Instruction string
}

// Result is an answer.
type Result struct {
	// Message is the result as the API reports it: markdown, a JSON text
	// (keys in the schema's order) or CSV with a header row.
	Message string
	// Value is the decoded result: the JSON value for structured_json
	// (json.Number for numbers), the Message string otherwise.
	Value any
}

// Error is an answer the page cannot give. The engine reports it as
// OUTPUT_INVALID with Error() as the task's error message.
type Error struct {
	// Missing lists the required properties (paths such as "price" or
	// "offer/price") that the page does not give, when that is the reason.
	Missing []string
	Reason  string
}

func (e *Error) Error() string { return e.Reason }

// Code is the task failure code the error maps to.
func (e *Error) Code() string { return task.CodeOutputInvalid }

// Extract answers req from page p.
func Extract(p Page, req Request) (Result, error) {
	pg, err := parsePage(p)
	if err != nil {
		return Result{}, &Error{Reason: "the page could not be read as HTML: " + err.Error()}
	}
	switch req.Type {
	case task.OutputJSON, "structured":
		if req.Schema == nil {
			return Result{}, errors.New("extract: structured_json needs a compiled schema")
		}
		return extractJSON(pg, req.Schema)
	case task.OutputCSV:
		if len(req.Columns) == 0 {
			return Result{}, errors.New("extract: structured_csv needs columns")
		}
		return extractCSV(pg, req.Columns)
	case task.OutputText, "":
		md, err := pg.markdown()
		if err != nil {
			return Result{}, err
		}
		if output.CheckText(strings.TrimLeft(md, "# \n")) != nil {
			return Result{}, &Error{Reason: "the page has no readable text"}
		}
		return Result{Message: md, Value: md}, nil
	}
	return Result{}, fmt.Errorf("extract: unknown output type %q", req.Type)
}

func extractJSON(pg *page, s *output.Schema) (Result, error) {
	f := &filler{pg: pg}
	root := s.Root()
	var value any
	switch {
	case root.Is("object"):
		obj, miss := f.fillObject(root, f.rootSources(root), true, "")
		if len(miss) > 0 {
			return Result{}, missingError(miss)
		}
		if len(obj) == 0 {
			return Result{}, &Error{Reason: "the page gives none of the schema's properties (" + propertyNames(root) + ")"}
		}
		value = obj
	case root.Is("array"):
		arr, err := f.rootArray(root)
		if err != nil {
			return Result{}, err
		}
		value = arr
	default:
		return Result{}, &Error{Reason: "the output schema's root is neither an object nor an array"}
	}
	if err := s.Validate(value); err != nil {
		return Result{}, &Error{Reason: "the values found on the page do not fit the output schema: " + strings.TrimPrefix(err.Error(), "the answer does not match the output schema: ")}
	}
	msg, err := s.Marshal(value)
	if err != nil {
		return Result{}, err
	}
	return Result{Message: string(msg), Value: value}, nil
}

// rootArray fills a schema whose root is an array: of objects from the
// page's best list; of plain values from the names of the best list's items.
func (f *filler) rootArray(root *output.Node) ([]any, error) {
	item := root.Items
	if item != nil && item.Is("object") {
		if best := f.bestList(item, jsonRank); best != nil {
			return best.objects, nil
		}
		return nil, &Error{Reason: "the page has no list whose items give " + requiredOrAll(item)}
	}
	pseudo := &output.Node{Types: []string{"object"}, Properties: []*output.Property{{Name: "name", Schema: item, Required: true}}}
	if best := f.bestList(pseudo, jsonRank); best != nil {
		out := make([]any, 0, len(best.objects))
		for _, o := range best.objects {
			out = append(out, o.(map[string]any)["name"])
		}
		return out, nil
	}
	return nil, &Error{Reason: "the page has no list of items to answer with"}
}

func extractCSV(pg *page, columns []string) (Result, error) {
	f := &filler{pg: pg}
	item := &output.Node{Types: []string{"object"}}
	for _, c := range columns {
		item.Properties = append(item.Properties, &output.Property{Name: c, Schema: &output.Node{Types: []string{"string"}}})
	}
	best := f.bestList(item, csvRank)
	if best == nil {
		return Result{}, &Error{Reason: fmt.Sprintf("the page has no table or repeated list with any of the columns %s", strings.Join(columns, ", "))}
	}
	rows := make([][]string, 0, len(best.objects))
	for _, o := range best.objects {
		m := o.(map[string]any)
		row := make([]string, len(columns))
		for i, c := range columns {
			if s, ok := m[c].(string); ok {
				row[i] = s
			}
		}
		rows = append(rows, row)
	}
	msg := output.FormatCSV(columns, rows)
	return Result{Message: msg, Value: msg}, nil
}

func propertyNames(n *output.Node) string {
	names := make([]string, len(n.Properties))
	for i, p := range n.Properties {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func requiredOrAll(n *output.Node) string {
	if len(n.Required) > 0 {
		return strings.Join(n.Required, ", ")
	}
	return "any of " + propertyNames(n)
}
