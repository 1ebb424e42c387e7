package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// docURL is where the tests file openapi.json for the JSON Schema compiler,
// so that "#/components/schemas/…" references resolve inside the document.
const docURL = "https://errand.invalid/openapi.json"

// metaSchemaFile is the OpenAPI Initiative's meta-schema of OpenAPI 3.1
// documents, https://spec.openapis.org/oas/3.1/schema/2022-10-07, committed
// because tests have no network. The copy is the one libopenapi embeds
// (datamodel/schemas/oas31-schema.json, same $id).
const metaSchemaFile = "testdata/oas-3.1-schema-2022-10-07.json"

// comingStatus marks operations the contract specifies but the server does
// not serve yet (x-errand-status).
const comingStatus = "coming"

func loadDoc(t *testing.T, data []byte) map[string]any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("openapi.json is not a JSON object")
	}
	return doc
}

// docSchemas compiles schemas inside the document, by JSON pointer, as
// JSON Schema 2020-12 (the dialect of OpenAPI 3.1) with formats asserted.
type docSchemas struct {
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

func newDocSchemas(t *testing.T) *docSchemas {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, loadDoc(t, openAPIDoc)); err != nil {
		t.Fatal(err)
	}
	return &docSchemas{c: c, cache: map[string]*jsonschema.Schema{}}
}

func (d *docSchemas) at(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if s, ok := d.cache[ptr]; ok {
		return s
	}
	s, err := d.c.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("schema at %s does not compile: %v", ptr, err)
	}
	d.cache[ptr] = s
	return s
}

// validate checks a JSON text or a decoded value against the schema at ptr.
func (d *docSchemas) validate(t *testing.T, ptr string, v any) error {
	t.Helper()
	if b, ok := v.([]byte); ok {
		var err error
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
			return fmt.Errorf("not JSON: %v: %s", err, b)
		}
	}
	return d.at(t, ptr).Validate(v)
}

func escPtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookup follows a JSON pointer in the document.
func lookup(t *testing.T, doc map[string]any, ptr string) any {
	t.Helper()
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				t.Fatalf("%s: no %q", ptr, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				t.Fatalf("%s: no item %q", ptr, tok)
			}
			cur = c[i]
		default:
			t.Fatalf("%s: %q is inside neither an object nor an array", ptr, tok)
		}
	}
	return cur
}

// deref follows a local $ref (#/components/…) from ptr, and answers where
// the object really lives.
func deref(t *testing.T, doc map[string]any, ptr string) (string, map[string]any) {
	t.Helper()
	for range 10 {
		m, ok := lookup(t, doc, ptr).(map[string]any)
		if !ok {
			t.Fatalf("%s is not an object", ptr)
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return ptr, m
		}
		if !strings.HasPrefix(r, "#/") {
			t.Fatalf("%s: $ref %q is not local to the document", ptr, r)
		}
		ptr = strings.TrimPrefix(r, "#")
	}
	t.Fatalf("%s: $ref loop", ptr)
	return "", nil
}

// The document is OpenAPI 3.1 as a maintained library reads it, and as the
// OpenAPI Initiative's meta-schema defines it; both checks also refuse a
// broken document, so a pass means something.
func TestOpenAPIIsValid31(t *testing.T) {
	t.Run("libopenapi", func(t *testing.T) {
		if errs := libopenapiProblems(openAPIDoc); len(errs) > 0 {
			t.Fatalf("openapi.json:\n%s", strings.Join(errs, "\n"))
		}
		doc, err := libopenapi.NewDocument(openAPIDoc)
		if err != nil {
			t.Fatal(err)
		}
		if v := doc.GetSpecInfo().Version; !strings.HasPrefix(v, "3.1.") {
			t.Errorf("version = %q, want 3.1.x", v)
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			t.Fatal(err)
		}
		sch, ok := m.Model.Components.SecuritySchemes.Get("apiKey")
		if !ok || sch.Type != "http" || sch.Scheme != "bearer" {
			t.Errorf("security scheme apiKey = %+v, want http bearer", sch)
		}
		if len(m.Model.Security) != 1 {
			t.Errorf("document-wide security = %v, want the API key", m.Model.Security)
		}
	})
	t.Run("meta-schema", func(t *testing.T) {
		meta := metaSchema(t)
		if err := meta.Validate(loadDoc(t, openAPIDoc)); err != nil {
			t.Fatalf("openapi.json against the OpenAPI 3.1 meta-schema: %v", err)
		}
	})
	t.Run("broken documents are refused", func(t *testing.T) {
		meta := metaSchema(t)
		breaks := map[string]func(doc map[string]any){
			"no info":          func(doc map[string]any) { delete(doc, "info") },
			"openapi 3.0":      func(doc map[string]any) { doc["openapi"] = "3.0.3" },
			"unknown root key": func(doc map[string]any) { doc["pathz"] = map[string]any{} },
			"responses not an object": func(doc map[string]any) {
				lookup(t, doc, "/paths/~1start~1health/get").(map[string]any)["responses"] = "none"
			},
		}
		for name, breakIt := range breaks {
			doc := loadDoc(t, openAPIDoc)
			breakIt(doc)
			if err := meta.Validate(doc); err == nil {
				t.Errorf("%s: the meta-schema accepted it", name)
			}
			b, _ := json.Marshal(doc)
			if errs := libopenapiProblems(b); len(errs) == 0 {
				t.Errorf("%s: libopenapi accepted it", name)
			}
		}
	})
}

// libopenapiProblems is what libopenapi and its validator find wrong with a
// document: parsing, building the 3.1 model, and the document check.
func libopenapiProblems(data []byte) []string {
	// Its logger would print what the returned errors already say.
	doc, err := libopenapi.NewDocumentWithConfiguration(data, &datamodel.DocumentConfiguration{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return []string{err.Error()}
	}
	if _, err := doc.BuildV3Model(); err != nil {
		return []string{err.Error()}
	}
	v, errs := validator.NewValidator(doc)
	var out []string
	for _, err := range errs {
		out = append(out, err.Error())
	}
	if v == nil {
		return append(out, "no validator")
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			out = append(out, e.Error())
			for _, se := range e.SchemaValidationErrors {
				out = append(out, "  "+se.FieldPath+" ("+se.KeywordLocation+"): "+se.Reason)
			}
		}
		if len(out) == 0 {
			out = append(out, "invalid, without a reason")
		}
	}
	return out
}

func metaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(metaSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := v.(map[string]any)["$id"].(string)
	if id != "https://spec.openapis.org/oas/3.1/schema/2022-10-07" {
		t.Fatalf("%s has $id %q", metaSchemaFile, id)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Every route the server registers is documented, with the right security,
// and every documented operation is served, except those marked coming.
func TestRoutesDocumented(t *testing.T) {
	doc := loadDoc(t, openAPIDoc)
	paths := doc["paths"].(map[string]any)
	served := map[string]route{}
	for _, rt := range routeTable {
		key := rt.method + " " + rt.path
		if _, dup := served[key]; dup {
			t.Errorf("routeTable lists %s twice", key)
		}
		served[key] = rt
		item, _ := paths[rt.path].(map[string]any)
		op, ok := item[strings.ToLower(rt.method)].(map[string]any)
		if !ok {
			t.Errorf("%s is served but not in openapi.json", key)
			continue
		}
		sec, overridden := op["security"].([]any)
		switch {
		case rt.public && !(overridden && len(sec) == 0):
			t.Errorf("%s needs no key, but openapi.json does not say security: []", key)
		case !rt.public && overridden && len(sec) == 0:
			t.Errorf("%s needs the API key, but openapi.json says security: []", key)
		}
		if op["x-errand-status"] == comingStatus {
			t.Errorf("%s is served now: drop its x-errand-status %q from openapi.json", key, comingStatus)
		}
	}
	var coming []string
	for p, item := range paths {
		for _, m := range httpMethods {
			op, ok := item.(map[string]any)[m].(map[string]any)
			if !ok {
				continue
			}
			key := strings.ToUpper(m) + " " + p
			if _, ok := served[key]; ok {
				continue
			}
			if op["x-errand-status"] == comingStatus {
				coming = append(coming, key)
				continue
			}
			t.Errorf("openapi.json documents %s, which is not in routeTable (mark it x-errand-status: %s if it is on its way)", key, comingStatus)
		}
	}
	if len(coming) > 0 {
		sort.Strings(coming)
		t.Logf("documented and coming: %v", coming)
	}
}

// mediaExample is one documented example and where its schema is.
type mediaExample struct {
	where, schemaPtr string
	value            any
}

// documentedExamples gathers every example of the document: of request
// bodies, answers and webhook payloads (media types), of parameters and
// headers, and the examples keyword of named schemas and their properties.
// It fails for a media type without any example.
func documentedExamples(t *testing.T, doc map[string]any) []mediaExample {
	t.Helper()
	var out []mediaExample
	exampleValues := func(where string, m map[string]any) []mediaExample {
		var got []mediaExample
		if v, ok := m["example"]; ok {
			got = append(got, mediaExample{where: where + "/example", value: v})
		}
		exs, _ := m["examples"].(map[string]any)
		for name := range exs {
			p, ex := deref(t, doc, where+"/examples/"+escPtr(name))
			v, ok := ex["value"]
			if !ok {
				t.Errorf("%s has no value", p)
			}
			got = append(got, mediaExample{where: p, value: v})
		}
		return got
	}
	seen := map[string]bool{} // shared components are checked once
	media := func(ptr string) {
		ptr, obj := deref(t, doc, ptr)
		if seen[ptr] {
			return
		}
		seen[ptr] = true
		content, _ := obj["content"].(map[string]any)
		for mt := range content {
			mptr := ptr + "/content/" + escPtr(mt)
			mptr, m := deref(t, doc, mptr)
			if _, ok := m["schema"]; !ok {
				t.Errorf("%s has no schema", mptr)
				continue
			}
			exs := exampleValues(mptr, m)
			if len(exs) == 0 {
				t.Errorf("%s has no example", mptr)
			}
			for _, e := range exs {
				e.schemaPtr = mptr + "/schema"
				out = append(out, e)
			}
		}
		hdrs, _ := obj["headers"].(map[string]any)
		for name := range hdrs {
			hp, h := deref(t, doc, ptr+"/headers/"+escPtr(name))
			for _, e := range exampleValues(hp, h) {
				e.schemaPtr = hp + "/schema"
				out = append(out, e)
			}
		}
	}
	operations := func(base string, items map[string]any) {
		for p, item := range items {
			iptr := base + "/" + escPtr(p)
			params := func(ptr string, list any) {
				for i := range list.([]any) {
					pp, param := deref(t, doc, fmt.Sprintf("%s/%d", ptr, i))
					for _, e := range exampleValues(pp, param) {
						e.schemaPtr = pp + "/schema"
						out = append(out, e)
					}
				}
			}
			if ps, ok := item.(map[string]any)["parameters"]; ok {
				params(iptr+"/parameters", ps)
			}
			for _, m := range httpMethods {
				op, ok := item.(map[string]any)[m].(map[string]any)
				if !ok {
					continue
				}
				optr := iptr + "/" + m
				if ps, ok := op["parameters"]; ok {
					params(optr+"/parameters", ps)
				}
				if _, ok := op["requestBody"]; ok {
					media(optr + "/requestBody")
				}
				for status := range op["responses"].(map[string]any) {
					media(optr + "/responses/" + escPtr(status))
				}
			}
		}
	}
	operations("/paths", doc["paths"].(map[string]any))
	operations("/webhooks", doc["webhooks"].(map[string]any))

	var inSchema func(ptr string, s any)
	inSchema = func(ptr string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if exs, ok := m["examples"].([]any); ok {
			for i, v := range exs {
				out = append(out, mediaExample{where: fmt.Sprintf("%s/examples/%d", ptr, i), schemaPtr: ptr, value: v})
			}
		}
		props, _ := m["properties"].(map[string]any)
		for name, sub := range props {
			inSchema(ptr+"/properties/"+escPtr(name), sub)
		}
		for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
			list, _ := m[kw].([]any)
			for i, sub := range list {
				inSchema(fmt.Sprintf("%s/%s/%d", ptr, kw, i), sub)
			}
		}
		for _, kw := range []string{"items", "additionalProperties"} {
			inSchema(ptr+"/"+kw, m[kw])
		}
	}
	for name, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		inSchema("/components/schemas/"+escPtr(name), s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// Every documented example is valid against its schema: the readers of the
// document copy them.
func TestExamplesValidate(t *testing.T) {
	doc := loadDoc(t, openAPIDoc)
	schemas := newDocSchemas(t)
	exs := documentedExamples(t, doc)
	if len(exs) < 80 {
		t.Fatalf("found only %d examples: the walk misses some", len(exs))
	}
	for _, e := range exs {
		if err := schemas.validate(t, e.schemaPtr, e.value); err != nil {
			t.Errorf("%s does not match %s:\n%v", e.where, e.schemaPtr, err)
		}
	}
	// The seed's three payloads are among them, value for value (numbers as
	// spelled: the decoder keeps them as json.Number).
	seeds := map[string]string{
		"full_response.json": "/webhooks/task_completed.full_response/post/requestBody/content/application~1json/examples/seed/value",
		"ai_response.json":   "/webhooks/task_completed.ai_response/post/requestBody/content/application~1json/examples/seedStructuredJSON/value",
		"just_ping.json":     "/webhooks/task_completed.just_ping/post/requestBody/content/application~1json/examples/seed/value",
	}
	for file, ptr := range seeds {
		data, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "seed", file))
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := lookup(t, doc, ptr); !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from the seed's %s:\n got %v\nwant %v", ptr, file, got, want)
		}
	}
	// And the schemas refuse what they should, so a pass means something.
	refused := []struct {
		schema string
		body   string
	}{
		{"/components/schemas/TaskCompletedFullResponse", `{"type":"task_completed","sessionId":"s","taskId":"t","data":{"message":"m"},"usage":{"inputTokens":1,"outputTokens":1,"computeTime":1,"cost":0},"completedAt":"2024-01-15T10:30:00.000Z"}`},
		{"/components/schemas/TaskCompletedPing", `{"event":"task_completed","sessionId":"s","taskId":"t","completedAt":"2024-01-15 10:30"}`},
		{"/components/schemas/TaskCompletedAIResponse", `"just a string"`},
		{"/components/schemas/Error", `{"success":false,"error":"x","code":"TEAPOT"}`},
		{"/components/schemas/RunTaskRequest", `{"startingUrl":"https://example.com"}`},
		{"/components/schemas/RunTaskRequest", `{"taskDetails":"x","outputType":"structured_json"}`},
		{"/components/schemas/SendMessageRequest", `{"sessionId":"s","message":{"actionType":"state","newState":"explode"}}`},
		{"/components/schemas/TaskState", `{"success":true,"sessionId":"s","taskId":"t","status":"completed"}`},
	}
	for _, r := range refused {
		if err := schemas.validate(t, r.schema, []byte(r.body)); err == nil {
			t.Errorf("%s accepts %s", r.schema, r.body)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// liveAPI is the handler on a real SQLite store; its engine is not started,
// so queued tasks stay queued.
type liveAPI struct {
	h       http.Handler
	doc     map[string]any
	schemas *docSchemas
	oas     validator.Validator
	dbPath  string // the SQLite file of its store
}

func newLiveAPI(t *testing.T) *liveAPI {
	t.Helper()
	return newLiveAPIWith(t, nil)
}

// newLiveAPIWith is newLiveAPI with deps changed by with (when not nil)
// before the handler is made.
func newLiveAPIWith(t *testing.T, with func(*Deps)) *liveAPI {
	t.Helper()
	path := filepath.Join(t.TempDir(), "errand.db")
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := engine.New(engine.Config{Store: st, SessionIdle: 5 * time.Minute})
	deps := Deps{Engine: eng, Store: st, Policy: netguard.New(netguard.Config{}), BootstrapKey: "k", Metrics: metrics.New(nil)}
	if with != nil {
		with(&deps)
	}
	h := NewHandler(deps)
	d, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return &liveAPI{h: h, doc: loadDoc(t, openAPIDoc), schemas: newDocSchemas(t), oas: v, dbPath: path}
}

// call sends a request and checks the answer against the document: the
// documented response for its status, its media type, and its schema (by
// this package's JSON Schema compiler, and by libopenapi-validator, which
// also checks the request). docPath is the documented path template.
func (l *liveAPI) call(t *testing.T, method, docPath, path, body string, key bool) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key {
		req.Header.Set("Authorization", "Bearer k")
	}
	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, req)
	res := rec.Result()
	raw, _ := io.ReadAll(res.Body)

	opPtr := "/paths/" + escPtr(docPath) + "/" + strings.ToLower(method)
	responses := lookup(t, l.doc, opPtr+"/responses").(map[string]any)
	status := fmt.Sprint(res.StatusCode)
	if _, ok := responses[status]; !ok {
		t.Fatalf("%s %s answered %d, which %s does not document: %s", method, path, res.StatusCode, opPtr, raw)
	}
	rptr, resp := deref(t, l.doc, opPtr+"/responses/"+status)
	mt, _, _ := strings.Cut(res.Header.Get("Content-Type"), ";")
	if _, ok := resp["content"].(map[string]any)[mt]; !ok {
		t.Fatalf("%s %s answered %d as %q, not documented at %s", method, path, res.StatusCode, mt, rptr)
	}
	var got any = raw
	if mt != "application/json" {
		got = string(raw) // text/plain, text/event-stream: the schema is of the text
	}
	if err := l.schemas.validate(t, rptr+"/content/"+escPtr(mt)+"/schema", got); err != nil {
		t.Errorf("%s %s: the %d answer does not match the document:\n%s\n%v", method, path, res.StatusCode, raw, err)
	}
	// libopenapi-validator re-reads the request and answer on its own.
	req = httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key {
		req.Header.Set("Authorization", "Bearer k")
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	if ok, errs := l.oas.ValidateHttpResponse(req, res); !ok {
		for _, e := range errs {
			t.Errorf("%s %s: libopenapi-validator: %s %v", method, path, e.Error(), e.SchemaValidationErrors)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil && mt == "application/json" {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, m
}

// Real answers of the running handler match what the document says.
func TestRealAnswersMatchDocument(t *testing.T) {
	l := newLiveAPI(t)
	const taskPath = "/task/{sessionId}/{taskId}"

	if code, m := l.call(t, "GET", "/start/health", "/start/health", "", false); code != 200 || m["status"] != "healthy" {
		t.Errorf("health: %d %v", code, m)
	}
	code, m := l.call(t, "POST", "/start/start-session", "/start/start-session", `{"mode":"default"}`, true)
	if code != 200 || m["taskId"] != nil {
		t.Fatalf("idle start-session: %d %v", code, m)
	}
	idle := m["sessionId"].(string)
	code, m = l.call(t, "POST", "/start/start-session", "/start/start-session",
		`{"mode":"default","initialTask":{"taskDetails":"Extract the main headline from the page","startingPoint":"https://news.ycombinator.com",`+
			`"webhook":{"name":"HN Headlines","url":"https://api.yoursite.com/webhooks/headlines","auth":"Bearer your-secret-token","submittedData":"full_response"}}}`, true)
	if code != 200 || m["taskId"] == nil {
		t.Fatalf("start-session with a task: %d %v", code, m)
	}
	sid, tid := m["sessionId"].(string), m["taskId"].(string)
	if code, m = l.call(t, "GET", taskPath, "/task/"+sid+"/"+tid, "", true); code != 200 || m["status"] != "queued" {
		t.Errorf("poll of a queued task: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/start-session", "/start/start-session", `{"mode":"turbo","initialTask":{"maxDuration":"soon"}}`, true); code != 400 || m["code"] != "INVALID_REQUEST" {
		t.Errorf("invalid start-session: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", taskPath, "/task/"+sid+"/task_nope", "", true); code != 404 || m["code"] != "TASK_NOT_FOUND" {
		t.Errorf("unknown task: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", taskPath, "/task/"+sid+"/"+tid, "", false); code != 401 || m["code"] != "INVALID_API_KEY" {
		t.Errorf("no key: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/run-task", "/start/run-task", `{"taskDetails":"x","startingUrl":"https://example.com/"}`, true); code != 200 || m["status"] != "pending" {
		t.Errorf("run-task without inline wait: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/run-task", "/start/run-task", `{"taskDetails":"`+strings.Repeat("a", MaxBody)+`"}`, true); code != 413 {
		t.Errorf("too large: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/send-message", "/start/send-message", `{"sessionId":"`+idle+`","message":{"actionType":"newTask","taskDetails":"x"}}`, true); code != 200 || m["status"] != "pending" {
		t.Errorf("newTask: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/send-message", "/start/send-message", `{"sessionId":"`+idle+`","message":{"actionType":"state","newState":"pause"}}`, true); code != 200 || m["message"] != "Session paused" {
		t.Errorf("pause: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/send-message", "/start/send-message", `{"sessionId":"`+idle+`","message":{"actionType":"guardrail","taskDetails":"M"}}`, true); code != 409 {
		t.Errorf("guardrail answer with nothing waiting: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", "/start/send-message", "/start/send-message", `{"sessionId":"sess_nope","message":{"actionType":"state","newState":"stop"}}`, true); code != 404 || m["code"] != "SESSION_NOT_FOUND" {
		t.Errorf("unknown session: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", taskPath+"/deliveries", "/task/"+sid+"/"+tid+"/deliveries", "", true); code != 200 {
		t.Errorf("deliveries: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", taskPath+"/deliveries/redeliver", "/task/"+sid+"/"+tid+"/deliveries/redeliver", "", true); code != 409 {
		t.Errorf("redeliver before any event: %d %v", code, m)
	}

	// The events stream of a task that has ended: its documented events,
	// each with the documented data, the result last.
	_, m = l.call(t, "POST", "/start/start-session", "/start/start-session", `{"initialTask":{"taskDetails":"x"}}`, true)
	sid2, tid2 := m["sessionId"].(string), m["taskId"].(string)
	if code, m = l.call(t, "POST", "/start/send-message", "/start/send-message", `{"sessionId":"`+sid2+`","message":{"actionType":"state","newState":"terminate"}}`, true); code != 200 {
		t.Fatalf("terminate: %d %v", code, m)
	}
	l.checkEvents(t, sid2, tid2)
	if code, _ = l.call(t, "GET", "/metrics", "/metrics", "", true); code != 200 {
		t.Errorf("metrics: %d", code)
	}
	if code, m = l.call(t, "GET", "/metrics", "/metrics", "", false); code != 401 || m["code"] != "INVALID_API_KEY" {
		t.Errorf("metrics without a key: %d %v", code, m)
	}

	// Every route of routeTable is registered as its entry says: none falls
	// through to the catch-all, and those needing a key refuse to answer
	// without one.
	for _, rt := range routeTable {
		path := strings.NewReplacer("{sessionId}", sid, "{taskId}", tid).Replace(rt.path)
		if rt.method == "GET" && strings.HasSuffix(rt.path, "/events") {
			path = strings.NewReplacer("{sessionId}", sid2, "{taskId}", tid2).Replace(rt.path)
		}
		rec := httptest.NewRecorder()
		l.h.ServeHTTP(rec, httptest.NewRequest(rt.method, path, nil))
		if rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), `"error":"no such endpoint: `) {
			t.Errorf("%s %s is not registered: %d %s", rt.method, rt.path, rec.Code, rec.Body)
		}
		if !rt.public && rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d, want 401", rt.method, rt.path, rec.Code)
		}
	}

	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Errorf("GET /openapi.json: %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	// The catch-all's answer is the documented error envelope too.
	rec = httptest.NewRecorder()
	l.h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if err := l.schemas.validate(t, "/components/schemas/Error", rec.Body.Bytes()); rec.Code != 404 || err != nil {
		t.Errorf("unknown endpoint: %d %s %v", rec.Code, rec.Body, err)
	}
}

// checkEvents reads the events stream of a task that has ended and checks
// each event's data against the schema the document names for it.
func (l *liveAPI) checkEvents(t *testing.T, sid, tid string) {
	t.Helper()
	const docPath = "/task/{sessionId}/{taskId}/events"
	req := httptest.NewRequest("GET", "/task/"+sid+"/"+tid+"/events", nil)
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, req) // returns once the stream has sent the result
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	l.call(t, "GET", docPath, "/task/"+sid+"/"+tid+"/events", "", true)
	dataSchema := map[string]string{
		"status": "/components/schemas/TaskStatusEvent",
		"step":   "/components/schemas/Step",
		"result": "/components/schemas/TaskState",
	}
	var names []string
	for _, block := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n") {
		var name, data string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if strings.HasPrefix(block, ":") {
			continue // a keep-alive comment
		}
		names = append(names, name)
		ptr, ok := dataSchema[name]
		if !ok {
			t.Errorf("undocumented event %q in %q", name, block)
			continue
		}
		if err := l.schemas.validate(t, ptr, []byte(data)); err != nil {
			t.Errorf("event %s: %s does not match %s: %v", name, data, ptr, err)
		}
	}
	if len(names) == 0 || names[len(names)-1] != "result" {
		t.Errorf("events %v, want the result last", names)
	}
}

// Every state a task can be polled in, as taskView renders it, matches the
// documented TaskState; and what a task's answer can be inline, TaskAnswer.
// (A started engine with a browser is what cmd/errand's tests run; here the
// view itself is checked for every status, which those cannot reach at will.)
func TestTaskViewsMatchDocument(t *testing.T) {
	schemas := newDocSchemas(t)
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	base := task.Task{ID: "task_xyz789", SessionID: "sess_abc123", Usage: task.Usage{InputTokens: 8500, OutputTokens: 2300, ComputeTime: 12.5, Cost: 0.0124}}
	with := func(f func(*task.Task)) task.Task { t := base; f(&t); return t }
	cases := map[string]task.Task{
		"queued":  with(func(t *task.Task) { t.Status = task.StatusQueued; t.Usage = task.Usage{} }),
		"running": with(func(t *task.Task) { t.Status = task.StatusRunning }),
		"completed": with(func(t *task.Task) {
			t.Status, t.Message, t.EndedAt = task.StatusCompleted, `{"title":"Product Name","price":29.99}`, at
			t.Network = []task.NetworkURL{{URL: "https://example.com/product", Timestamp: at.Add(-time.Second)}}
		}),
		"completed without pages": with(func(t *task.Task) { t.Status, t.Message, t.EndedAt = task.StatusCompleted, "# Title\n", at }),
		"guardrail":               with(func(t *task.Task) { t.Status, t.Question = task.StatusGuardrail, "S or M?" }),
		"failed": with(func(t *task.Task) {
			t.Status, t.ErrorCode, t.ErrorMessage = task.StatusFailed, task.CodeOutputInvalid, "price missing"
		}),
		"cancelled": with(func(t *task.Task) {
			t.Status, t.ErrorCode, t.ErrorMessage = task.StatusCancelled, task.CodeCancelled, "the task was cancelled"
		}),
	}
	for name, tk := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := taskView(tk)
			if !tk.Status.Final() && tk.Status != task.StatusGuardrail {
				// getTask adds the steps of a task still under way.
				body["steps"] = stepsView([]task.Step{{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://example.com/"}`), URL: "https://example.com/", DurationMs: 800, At: at}})
			}
			raw := mustJSON(t, body)
			if status != 200 {
				t.Errorf("status %d", status)
			}
			if err := schemas.validate(t, "/components/schemas/TaskState", raw); err != nil {
				t.Errorf("%s does not match TaskState: %v", raw, err)
			}
			if tk.Status.Final() || tk.Status == task.StatusGuardrail {
				if err := schemas.validate(t, "/components/schemas/TaskAnswer", raw); err != nil {
					t.Errorf("%s does not match TaskAnswer: %v", raw, err)
				}
			}
		})
	}
}

// The bodies errand's webhook package really builds match the documented
// webhook payloads, for every event, submittedData and outputType.
func TestWebhookBodiesMatchDocument(t *testing.T) {
	doc := loadDoc(t, openAPIDoc)
	schemas := newDocSchemas(t)
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	usage := task.Usage{InputTokens: 8500, OutputTokens: 2300, ComputeTime: 12.5, Cost: 0.0124}
	results := map[task.OutputType]string{
		task.OutputText: "# Widgets & <gadgets>\n",
		task.OutputJSON: `{"title":"Product Name","price":29.99}`,
		task.OutputCSV:  "name,price\nWidget,9.99\n",
	}
	webhookFor := func(e task.Event, sd task.SubmittedData) string {
		name := string(e)
		switch {
		case sd == task.SubmitJustPing:
			name += ".just_ping"
		case e == task.EventCompleted:
			name += "." + string(sd)
		}
		return name
	}
	used := map[string]bool{}
	for _, e := range []task.Event{task.EventCompleted, task.EventFailed, task.EventGuardrail} {
		for _, sd := range []task.SubmittedData{task.SubmitFullResponse, task.SubmitAIResponse, task.SubmitJustPing} {
			for ot, result := range results {
				tk := task.Task{ID: "task_xyz789", SessionID: "sess_abc123", EndedAt: at, Usage: usage, Spec: task.Spec{OutputType: ot}}
				switch e {
				case task.EventCompleted:
					tk.Status, tk.Message = task.StatusCompleted, result
				case task.EventFailed:
					tk.Status, tk.ErrorCode, tk.ErrorMessage = task.StatusFailed, task.CodeTaskTimeout, "the task ran too long"
				case task.EventGuardrail:
					tk.Status, tk.Question = task.StatusGuardrail, "S or M?"
				}
				body, err := webhook.Body(tk, e, sd)
				if err != nil {
					t.Fatal(err)
				}
				name := webhookFor(e, sd)
				used[name] = true
				ptr := "/webhooks/" + escPtr(name) + "/post/requestBody/content/application~1json/schema"
				if err := schemas.validate(t, ptr, body); err != nil {
					t.Errorf("%s/%s/%s: %s does not match webhook %q: %v", e, sd, ot, body, name, err)
				}
			}
		}
	}
	// A task that replayed a recipe has the replay keys in usage and the
	// replay object; one that failed while replaying too.
	rep := &task.Replay{Recipe: "daily-prices", Version: 2, Mode: "healed", ReplayedSteps: 3, ModelSteps: 2, TookOverAt: 4,
		Reason: "no element on the page is button \"Sign in\"", Recorded: 3, SavedInputTokens: 9000, SavedOutputTokens: 300, SavedCost: 0.0061}
	for _, e := range []task.Event{task.EventCompleted, task.EventFailed} {
		tk := task.Task{ID: "task_xyz789", SessionID: "sess_abc123", EndedAt: at, Usage: usage, Replay: rep, Spec: task.Spec{OutputType: task.OutputJSON},
			Status: task.StatusCompleted, Message: `{"a":1}`}
		if e == task.EventFailed {
			tk.Status, tk.ErrorCode, tk.ErrorMessage = task.StatusFailed, task.CodeReplayUnavailable, "replay is required"
		}
		body, err := webhook.Body(tk, e, task.SubmitFullResponse)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), `"replayedSteps":3`) || !strings.Contains(string(body), `"replay":{"recipe":"daily-prices"`) {
			t.Errorf("%s with a replay: %s", e, body)
		}
		name := webhookFor(e, task.SubmitFullResponse)
		ptr := "/webhooks/" + escPtr(name) + "/post/requestBody/content/application~1json/schema"
		if err := schemas.validate(t, ptr, body); err != nil {
			t.Errorf("%s with a replay: %s does not match webhook %q: %v", e, body, name, err)
		}
	}
	// A monitor's events, in each submittedData (see monitors_test.go).
	for name, body := range monitorBodies(t) {
		used[name] = true
		ptr := "/webhooks/" + escPtr(name) + "/post/requestBody/content/application~1json/schema"
		if err := schemas.validate(t, ptr, body); err != nil {
			t.Errorf("%s does not match webhook %q: %v", body, name, err)
		}
	}
	var documented []string
	for name := range doc["webhooks"].(map[string]any) {
		documented = append(documented, name)
		if !used[name] {
			t.Errorf("webhook %q is documented, but no event and submittedData produce it", name)
		}
	}
	if len(documented) != len(used) {
		t.Errorf("documented webhooks %v, produced %v", documented, used)
	}
}
