package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/mcp"
)

// compile compiles a tool's input schema as JSON Schema 2020-12 (MCP's
// dialect) with formats asserted.
func compile(t *testing.T, name string, schema any) *jsonschema.Schema {
	t.Helper()
	raw, _ := json.Marshal(schema)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	url := "https://errand.invalid/tools/" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s's input schema does not compile: %v", name, err)
	}
	return s
}

func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	raw, _ := json.Marshal(v)
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The tools and their input schemas: each a JSON Schema object that takes
// what the endpoint behind the tool takes (openapi.json's request schemas
// and its documented examples), with every field of the API's task, and
// that refuses what the schema says the API refuses.
func TestToolSchemas(t *testing.T) {
	cs := connect(t, mcp.Config{Errand: mcp.Local{}, Tenant: "t"}, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{}
	props := map[string]map[string]any{}
	for _, tl := range res.Tools {
		if tl.Description == "" || tl.Title == "" {
			t.Errorf("%s has no title or description", tl.Name)
		}
		m := tl.InputSchema.(map[string]any)
		if m["type"] != "object" {
			t.Errorf("%s's input schema is not an object: %v", tl.Name, m["type"])
		}
		schemas[tl.Name] = compile(t, tl.Name, m)
		props[tl.Name], _ = m["properties"].(map[string]any)
	}
	names := slices.Sorted(maps.Keys(schemas))
	if want := []string{"create_monitor", "delete_monitor", "get_monitor_runs", "get_task", "list_monitors", "list_tasks", "run_task", "send_message", "start_session"}; !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}

	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	// Every field of the API's task is an argument of run_task, besides
	// startingUrl and the tool's timeout.
	for field := range doc.Components.Schemas["TaskFields"].Properties {
		if props["run_task"][field] == nil {
			t.Errorf("run_task has no argument %s", field)
		}
	}
	for _, extra := range []string{"startingUrl", "timeout"} {
		if props["run_task"][extra] == nil {
			t.Errorf("run_task has no argument %s", extra)
		}
	}
	// The documented request examples are good arguments.
	for tool, path := range map[string]string{"run_task": "/start/run-task", "start_session": "/start/start-session", "send_message": "/start/send-message", "create_monitor": "/monitors"} {
		var op struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]struct {
						Value any `json:"value"`
					} `json:"examples"`
				} `json:"content"`
			} `json:"requestBody"`
		}
		if err := json.Unmarshal(doc.Paths[path]["post"], &op); err != nil {
			t.Fatal(err)
		}
		exs := op.RequestBody.Content["application/json"].Examples
		if len(exs) == 0 {
			t.Fatalf("openapi.json has no example for %s", path)
		}
		for name, ex := range exs {
			if err := schemas[tool].Validate(toJSONValue(t, ex.Value)); err != nil {
				t.Errorf("%s: the example %s of %s is refused: %v", tool, name, path, err)
			}
		}
	}
	good := map[string]map[string]any{
		"get_task":         {"sessionId": "sess_a", "taskId": "task_b"},
		"list_tasks":       {"status": "running", "limit": 10},
		"get_monitor_runs": {"monitorId": "mon_a", "limit": 5},
		"delete_monitor":   {"monitorId": "mon_a"},
	}
	bad := map[string][]map[string]any{
		"run_task": {
			{"startingPoint": "https://example.com/"},
			{"taskDetails": "x", "outputType": "xml"},
			{"taskDetails": "x", "outputType": "structured_json"},
			{"taskDetails": "x", "timeout": 7200},
			{"taskDetails": "x", "maxDuration": "soon"},
		},
		"send_message":   {{"sessionId": "s", "message": map[string]any{"actionType": "state", "newState": "explode"}}, {"message": map[string]any{}}},
		"get_task":       {{"sessionId": "s"}},
		"list_tasks":     {{"status": "done"}, {"limit": 0}},
		"create_monitor": {{"name": "x", "schedule": "@every 1m"}},
		"delete_monitor": {{}},
	}
	for tool, v := range good {
		if err := schemas[tool].Validate(toJSONValue(t, v)); err != nil {
			t.Errorf("%s refuses %v: %v", tool, v, err)
		}
	}
	for tool, list := range bad {
		for _, v := range list {
			if schemas[tool].Validate(toJSONValue(t, v)) == nil {
				t.Errorf("%s's schema takes %v, which the API refuses", tool, v)
			}
		}
	}
}
