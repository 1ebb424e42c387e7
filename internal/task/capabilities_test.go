package task

import (
	"reflect"
	"testing"
)

func TestCapabilitiesRefusals(t *testing.T) {
	builtin := Capabilities{Name: "the built-in extractor", NeedsStartingPoint: true, NoTyping: true, Remedy: "configure a model"}
	withPage := Spec{TaskDetails: "x", StartingPoint: "https://example.com/"}
	withSecrets := withPage
	withSecrets.Secrets = []Secret{{Match: "example.com", Fields: map[string]string{"password": "p"}}}
	cases := []struct {
		name string
		caps Capabilities
		spec Spec
		want []SpecProblem
	}{
		{"the zero value runs anything", Capabilities{}, Spec{TaskDetails: "x", Secrets: withSecrets.Secrets}, nil},
		{"a page to read", builtin, withPage, nil},
		{"no page", builtin, Spec{TaskDetails: "x"}, []SpecProblem{{"startingPoint",
			"is required: the built-in extractor reads the page it is given and cannot look for one; configure a model"}}},
		{"secrets it cannot type", builtin, withSecrets, []SpecProblem{{"secrets",
			"cannot be used: the built-in extractor never types into pages; configure a model"}}},
		{"both, unnamed", Capabilities{NeedsStartingPoint: true, NoTyping: true}, Spec{Secrets: withSecrets.Secrets}, []SpecProblem{
			{"startingPoint", "is required: the agent reads the page it is given and cannot look for one"},
			{"secrets", "cannot be used: the agent never types into pages"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.caps.Refusals(tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Refusals = %#v, want %#v", got, tc.want)
			}
		})
	}
}
