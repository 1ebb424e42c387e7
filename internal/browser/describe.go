package browser

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/errandhq/errand/internal/recipe"
)

// describeJS describes elements and pages for learned tasks; see the
// comment at its top.
//
//go:embed describe.js
var describeJS string

// Inspector is what learned tasks (package recipe) need of a page besides
// its Tab: Chromium's tabs implement it. It reads the page only; acting
// stays with the Tab, on the numbers Candidates gives.
type Inspector interface {
	// Describe describes the element behind an observation number, in
	// terms that outlive the numbering.
	Describe(ctx context.Context, id int) (recipe.Element, error)
	// Candidates lists the page's interactive elements with their
	// descriptions and numbers, hidden ones marked, in page order.
	Candidates(ctx context.Context) ([]recipe.Candidate, error)
	// State reports the page's landmarks for its fingerprint and, with
	// texts set, the text of every visible element that holds text.
	State(ctx context.Context, texts bool) (recipe.PageState, error)
}

func describeCall(cmd string, arg any) string {
	return fmt.Sprintf("(%s)(%s, %v)", describeJS, jsString(cmd), arg)
}

func (t *chromiumTab) Describe(ctx context.Context, id int) (recipe.Element, error) {
	return evalJS[recipe.Element](t, ctx, "describing an element", describeCall("describe", id))
}

func (t *chromiumTab) Candidates(ctx context.Context) ([]recipe.Candidate, error) {
	return evalJS[[]recipe.Candidate](t, ctx, "listing the page's elements", describeCall("candidates", 0))
}

func (t *chromiumTab) State(ctx context.Context, texts bool) (recipe.PageState, error) {
	return evalJS[recipe.PageState](t, ctx, "reading the page's state", describeCall("state", texts))
}
