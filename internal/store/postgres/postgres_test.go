package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/pgtest"
	"github.com/errandhq/errand/internal/store/postgres"
	"github.com/errandhq/errand/internal/store/storetest"
)

// pg is this test binary's PostgreSQL; it starts on the first test that
// asks for a database, so a re-executed node process (see
// TestNodeDiesChild) never starts one of its own.
var pg = pgtest.New()

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func openStore(url string) (*postgres.Store, error) {
	return openStoreWith(url, storetest.Options{})
}

func openStoreWith(url string, o storetest.Options) (*postgres.Store, error) {
	return postgres.Open(context.Background(), postgres.Config{URL: url, Now: time.Now, Credentials: o.Credentials})
}

func openURL(t testing.TB, url string) *postgres.Store {
	t.Helper()
	return openURLWith(t, url, storetest.Options{})
}

func openURLWith(t testing.TB, url string, o storetest.Options) *postgres.Store {
	t.Helper()
	s, err := openStoreWith(url, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func(*testing.T, storetest.Options) store.Store) {
		url := pg.NewDatabase(t)
		return openURL(t, url), func(t *testing.T, o storetest.Options) store.Store { return openURLWith(t, url, o) }
	})
}
