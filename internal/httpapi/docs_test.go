package httpapi

import (
	"os"
	"strings"
	"testing"
)

// docs/API.md, the API document users read in the repository, names every
// route this package serves, as openapi.json must describe it.
func TestAPIDocumentNamesEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routeTable {
		if !strings.Contains(string(doc), rt.method+" "+rt.path) && !strings.Contains(string(doc), "`"+rt.path+"`") {
			t.Errorf("docs/API.md does not document %s %s", rt.method, rt.path)
		}
	}
}
