package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaBase is the made-up address the caller's schema is compiled under.
// Relative references resolve against it, so they too reach the refusing
// loader instead of the file system.
const schemaBase = "mem:///"
const schemaURL = schemaBase + "outputSchema.json"

var printer = message.NewPrinter(language.English)

// Schema is a caller's compiled outputSchema.
type Schema struct {
	raw      json.RawMessage
	compiled *jsonschema.Schema
	root     *Node
}

// SchemaError says why an outputSchema cannot be used, in one sentence meant
// for the caller. The HTTP layer reports it under the pointer /outputSchema
// (followed by Pointer when that is set).
type SchemaError struct {
	// Pointer is the JSON pointer, inside the schema, of the part at fault;
	// empty when the fault is the schema as a whole.
	Pointer string
	Reason  string
}

func (e *SchemaError) Error() string { return e.Reason }

// refusingLoader is the only loader the compiler gets. Loading a schema from
// an outside address would let a caller make the server read its own files
// (file:///etc/passwd) or reach hosts the network policy guards, at
// submission time and with no policy in the way; so every outside reference
// is refused and the caller told to inline it under $defs.
type refusingLoader struct {
	// calls counts refusals, so tests can see that the compiler asked and
	// got nothing.
	calls *int
}

func (l refusingLoader) Load(url string) (any, error) {
	if l.calls != nil {
		*l.calls++
	}
	return nil, errRefusedRef
}

var errRefusedRef = errors.New("references outside the schema are not loaded")

// CompileSchema compiles a caller's outputSchema (JSON Schema, draft 2020-12
// unless $schema names another draft). Only references inside the schema
// itself ("#/$defs/…") are followed. The root must describe an object or an
// array, since that is what a structured_json answer is; a root without
// "type" but with "properties" counts as an object.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	return compileSchema(raw, refusingLoader{})
}

func compileSchema(raw json.RawMessage, loader refusingLoader) (*Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &SchemaError{Reason: "outputSchema is empty; structured_json needs a JSON Schema object"}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &SchemaError{Reason: "outputSchema is not valid JSON: " + err.Error()}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, &SchemaError{Reason: fmt.Sprintf("outputSchema must be a JSON Schema object, not %s", jsonKind(doc))}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(loader)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, &SchemaError{Reason: "outputSchema cannot be used: " + err.Error()}
	}
	compiled, err := c.Compile(schemaURL)
	if err != nil {
		return nil, compileError(err)
	}
	s := &Schema{raw: append(json.RawMessage(nil), raw...), compiled: compiled}
	s.root = newNodeBuilder(raw).build(compiled)
	if !s.root.Is("object") && !s.root.Is("array") {
		return nil, &SchemaError{Pointer: "/type", Reason: fmt.Sprintf(`outputSchema must have root type "object" or "array", not %s`, describeTypes(s.root.Types))}
	}
	return s, nil
}

// compileError turns the compiler's errors into one sentence for the caller.
func compileError(err error) error {
	var load *jsonschema.LoadURLError
	if errors.As(err, &load) {
		ref := strings.TrimPrefix(load.URL, schemaBase)
		return &SchemaError{Reason: fmt.Sprintf("outputSchema refers to %q, but references outside the schema are not allowed; define it under $defs and refer to it as \"#/$defs/…\"", ref)}
	}
	var scheme *jsonschema.UnsupportedURLSchemeError
	if errors.As(err, &scheme) {
		return &SchemaError{Reason: "outputSchema refers to an outside document, which is not allowed; define it under $defs and refer to it as \"#/$defs/…\""}
	}
	var meta *jsonschema.SchemaValidationError
	if errors.As(err, &meta) {
		var ve *jsonschema.ValidationError
		if errors.As(meta.Err, &ve) {
			problems := firstPerLocation(flatten(ve))
			if len(problems) > 0 {
				return &SchemaError{Pointer: problems[0].Location, Reason: "outputSchema is not a valid JSON Schema: " + joinProblems(problems)}
			}
		}
		return &SchemaError{Reason: "outputSchema is not a valid JSON Schema"}
	}
	var re *jsonschema.InvalidRegexError
	if errors.As(err, &re) {
		return &SchemaError{Pointer: fragment(re.URL), Reason: fmt.Sprintf("outputSchema has a pattern %q that is not a valid regular expression: %v", re.Regex, re.Err)}
	}
	var anchor *jsonschema.AnchorNotFoundError
	if errors.As(err, &anchor) {
		return &SchemaError{Reason: fmt.Sprintf("outputSchema refers to %q, which it does not define", strings.TrimPrefix(anchor.Reference, schemaBase))}
	}
	var ptr *jsonschema.JSONPointerNotFoundError
	if errors.As(err, &ptr) {
		return &SchemaError{Reason: fmt.Sprintf("outputSchema refers to %q, which it does not define", "#"+fragment(ptr.URL))}
	}
	var draft *jsonschema.UnsupportedDraftError
	if errors.As(err, &draft) {
		return &SchemaError{Pointer: "/$schema", Reason: fmt.Sprintf("outputSchema names $schema %q, which is not a supported JSON Schema draft", draft.URL)}
	}
	// Anything else (duplicate $id or anchor, bad URL syntax…) keeps the
	// library's wording, minus our made-up base address.
	return &SchemaError{Reason: "outputSchema cannot be used: " + strings.ReplaceAll(err.Error(), schemaBase, "")}
}

// fragment returns the JSON pointer after '#' in a schema location.
func fragment(loc string) string {
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		return loc[i+1:]
	}
	return ""
}

// Raw returns the schema as the caller sent it.
func (s *Schema) Raw() json.RawMessage { return s.raw }

// Root describes the schema's root for code that fills or explains it.
func (s *Schema) Root() *Node { return s.root }

// Problem is one way a value fails a schema.
type Problem struct {
	// Location is the JSON pointer of the failing part of the value (empty for
	// the value as a whole).
	Location string
	Reason   string
}

func (p Problem) String() string {
	where := "the top level"
	if p.Location != "" {
		where = p.Location
	}
	return "at " + where + ": " + p.Reason
}

// ValidationError lists every way a value fails the schema.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	return "the answer does not match the output schema: " + joinProblems(e.Problems)
}

func joinProblems(ps []Problem) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Validate checks v, a value as DecodeJSON returns it (or built from the
// same types: map[string]any, []any, string, bool, nil, json.Number or Go
// numbers), against the schema. A failure is a *ValidationError.
func (s *Schema) Validate(v any) error {
	err := s.compiled.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Problems: []Problem{{Reason: err.Error()}}}
	}
	problems := flatten(ve)
	if len(problems) == 0 {
		problems = []Problem{{Reason: ve.ErrorKind.LocalizedString(printer)}}
	}
	return &ValidationError{Problems: problems}
}

// ValidateJSON decodes data and validates it, returning the decoded value.
func (s *Schema) ValidateJSON(data []byte) (any, error) {
	v, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeJSON decodes one JSON value for validation. Numbers stay
// json.Number, so 0.1 or 2^63 are checked (and later re-encoded) exactly as
// written rather than after a trip through float64.
func DecodeJSON(data []byte) (any, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the answer is not JSON: it is empty")
		}
		return nil, fmt.Errorf("the answer is not valid JSON: %v", err)
	}
	return v, nil
}

// flatten lists the leaves of the library's error tree: the wrappers above
// them ("allOf failed", "jsonschema validation failed") say nothing a reader
// can act on.
func flatten(ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	seen := map[Problem]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if _, ok := e.ErrorKind.(*kind.Schema); ok {
			return
		}
		p := Problem{Location: pointer(e.InstanceLocation), Reason: e.ErrorKind.LocalizedString(printer)}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out
}

// firstPerLocation keeps one problem per location. Metaschema failures come
// from anyOf branches ("type" may be a string or an array), and only the
// first branch's complaint reads as advice.
func firstPerLocation(ps []Problem) []Problem {
	seen := map[string]bool{}
	var out []Problem
	for _, p := range ps {
		if !seen[p.Location] {
			seen[p.Location] = true
			out = append(out, p)
		}
	}
	return out
}

// pointer builds a JSON pointer (RFC 6901) from path tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func describeTypes(types []string) string {
	switch len(types) {
	case 0:
		return "unconstrained (add \"type\": \"object\" and \"properties\")"
	case 1:
		return fmt.Sprintf("%q", types[0])
	}
	q := make([]string, len(types))
	for i, t := range types {
		q[i] = fmt.Sprintf("%q", t)
	}
	return strings.Join(q, " or ")
}
