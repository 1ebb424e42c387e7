package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// keysCreate makes a new API key for a new tenant, prints it once and
// stores only its hash.
func keysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("errand keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "a name for the key (required)")
	e := &envFlags{fs: fs, getenv: getenv}
	c := &config{}
	e.str(&c.Data, "data", "ERRAND_DATA", "./errand-data", "data folder of the embedded SQLite store")
	e.str(&c.DatabaseURL, "database-url", "ERRAND_DATABASE_URL", "", "postgres:// URL")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(stderr, "errand keys create: --name is required")
		return exitCode(2)
	}
	// No key: credentials still in clear are sealed by the next serve.
	st, err := openStore(ctx, c, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	key := newAPIKey()
	k := store.Key{
		ID: task.NewID("key"), Name: *name, TenantID: task.NewID("tenant"),
		Hash: httpapi.HashKey(key), CreatedAt: time.Now().UTC(),
	}
	if err := st.CreateKey(ctx, k); err != nil {
		return fmt.Errorf("store the key: %w", err)
	}
	fmt.Fprintln(stdout, key)
	fmt.Fprintf(stderr, "Created API key %q (%s). It is shown only this once: keep it safe.\n", *name, k.ID)
	return nil
}

// newAPIKey is 256 random bits with a recognisable prefix.
func newAPIKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "errand_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
