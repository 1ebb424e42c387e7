package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/store/storetest"
)

func openAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	return openWith(t, path, storetest.Options{})
}

func openWith(t testing.TB, path string, o storetest.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Now: time.Now, Credentials: o.Credentials})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func(*testing.T, storetest.Options) store.Store) {
		path := filepath.Join(t.TempDir(), "errand.db")
		return openAt(t, path), func(t *testing.T, o storetest.Options) store.Store { return openWith(t, path, o) }
	})
}
