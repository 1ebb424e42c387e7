package browser_test

//go:generate go run testdata/weigh.go

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/browser"
)

// TestCorpusWeightIsInvisible checks that what a page carries besides its
// content (menus and drawers that are hidden, class lists, analytics
// attributes, scripts, metadata, an icon sprite) costs the model nothing:
// each corpus page observes the same in its light and its production
// weight, numbering included, though the latter is 4–7 times bigger.
func TestCorpusWeightIsInvisible(t *testing.T) {
	c := needChromium(t)
	light := httptestServer(t, http.FileServer(http.Dir(lightCorpusDir)))
	heavy := httptestServer(t, http.FileServer(http.Dir(corpusDir)))
	tb, err := c.Tab(t.Context(), "weight", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession("weight")
	observe := func(base, page string) browser.Observation {
		t.Helper()
		if err := tb.Navigate(t.Context(), base+"/"+page); err != nil {
			t.Fatal(err)
		}
		obs, err := tb.Observe(t.Context(), browser.ObserveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obs
	}
	for _, path := range corpus(t, lightCorpusDir) {
		page := filepath.Base(path)
		want, got := observe(light.URL, page), observe(heavy.URL, page)
		if got.Title != want.Title {
			t.Errorf("%s: title %q, want %q", page, got.Title, want.Title)
		}
		if got.Text != want.Text {
			t.Errorf("%s: the heavier page observes differently:\n--- light\n%s\n--- heavy\n%s", page, want.Text, got.Text)
		}
		if strings.Count(want.Text, "[") < 10 {
			t.Errorf("%s: too few numbered elements to compare:\n%s", page, want.Text)
		}
	}
}
