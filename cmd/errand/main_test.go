package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/errandhq/errand/internal/store/pgtest"
)

// pg is the PostgreSQL cluster of this test binary, started on first use.
var pg = pgtest.New()

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
