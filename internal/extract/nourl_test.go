package extract

import (
	"testing"

	"github.com/errandhq/errand/internal/task"
)

// TestWithoutURL covers a page handed over without its address (a test
// harness, a file): links stay relative, nothing breaks.
func TestWithoutURL(t *testing.T) {
	for _, typ := range []task.OutputType{task.OutputText, task.OutputCSV} {
		t.Run(string(typ), func(t *testing.T) {
			res, err := Extract(Page{HTML: fixture(t, "category.html")}, Request{Type: typ, Columns: []string{"name", "url"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Message == "" {
				t.Fatal("empty answer")
			}
		})
	}
}
