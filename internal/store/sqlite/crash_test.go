package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
)

// crashEnv carries the database path to the child process of
// TestCrashResumesRunningTask.
const crashEnv = "ERRAND_SQLITE_CRASH_CHILD_DB"

type runFunc func(ctx context.Context, taskID string) error

func (f runFunc) RunTask(ctx context.Context, taskID string) error { return f(ctx, taskID) }
func (f runFunc) Deliver(context.Context, string) error            { return nil }

// TestCrashChild is the process that gets killed: it starts the task, says
// so on stdout and hangs as a real task would. It does nothing when run as
// part of the ordinary test suite.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	err = s.StartQueue(context.Background(), runFunc(func(ctx context.Context, id string) error {
		tk, err := s.StartTask(ctx, id, "node", time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("started %s %d\n", id, tk.Attempts)
		select {} // hang until killed
	}), store.QueueConfig{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	select {}
}

// TestCrashResumesRunningTask kills a process in the middle of a task and
// checks that the next Open runs the task again at once, not after River's
// rescue delay (60s plus the task's maxDuration, far beyond the wait here)
// nor after the task's heartbeat goes stale.
func TestCrashResumesRunningTask(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
	first := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "long", MaxDuration: 5 * time.Minute}}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	child.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "started ") || strings.HasPrefix(line, "error ") {
				started <- line
				return
			}
		}
		close(started)
	}()
	select {
	case line := <-started:
		if line != "started "+first.ID+" 1" {
			_ = child.Process.Kill()
			t.Fatalf("child said %q", line)
		}
	case <-time.After(10 * time.Second):
		_ = child.Process.Kill()
		t.Fatal("the child never started the task")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	// The kernel released the dead process's lock: Open succeeds, and
	// finds the run job and the task the child left "running": it queues
	// the task again at once, without waiting for its heartbeat to go
	// stale.
	s = openAt(t, path)
	defer s.Close()
	var attempts atomic.Int32
	err = s.StartQueue(ctx, runFunc(func(ctx context.Context, id string) error {
		tk, err := s.StartTask(ctx, id, "node", time.Now())
		if err != nil {
			return err
		}
		if tk.Status != task.StatusRunning {
			return fmt.Errorf("status %q", tk.Status)
		}
		attempts.Store(int32(tk.Attempts))
		return s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Message: "resumed"}, At: time.Now()})
	}), store.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = s.StopQueue(stopCtx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for attempts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the task left running by the killed process was not run again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := attempts.Load(); n != 2 {
		t.Fatalf("the resumed run is attempt %d, want 2", n)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	_, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if !errors.Is(err, sqlite.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
