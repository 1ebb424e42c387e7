package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
)

// The engine refuses what its agent declares it cannot run, whoever calls
// it, and queues nothing.
func TestSubmissionChecksCapabilities(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "errand.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The built-in extractor reads the page it is given.
	e := New(Config{Store: st, Agent: &agent.Builtin{}})
	noPage := task.Spec{TaskDetails: "find it"}

	var se *SpecError
	if _, err := e.RunTask(ctx, "ten", noPage); !errors.As(err, &se) || se.Problems[0].Field != "startingPoint" {
		t.Errorf("RunTask without a page: %v", err)
	}
	s, _, err := e.StartSession(ctx, "ten", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewTask(ctx, "ten", s.ID, noPage); !errors.As(err, &se) {
		t.Errorf("NewTask without a page: %v", err)
	}
	if d, err := st.Depths(ctx); err != nil || d.TasksQueued != 0 {
		t.Errorf("queued after refusals: %+v %v", d, err)
	}
	withPage := noPage
	withPage.StartingPoint = "https://example.com/"
	if _, err := e.NewTask(ctx, "ten", s.ID, withPage); err != nil {
		t.Errorf("NewTask with a page: %v", err)
	}
}
