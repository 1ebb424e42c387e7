package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/node"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// keysCreate makes a new API key for a new tenant, prints it once and
// stores only its hash.
func keysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := node.Default()
	c := newCommand("keys create", "", "Create an API key for a new tenant. The key is printed once; only its hash is stored.", getenv)
	name := c.fs.String("name", "", "a name for the key (required)")
	storeFlags(c, &cfg)
	if err := c.parse(args, stdout, stderr); err != nil {
		return helpOrErr(err)
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(stderr, "errand keys create: --name is required")
		return exitCode(2)
	}
	st, err := node.OpenStore(ctx, cfg)
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
