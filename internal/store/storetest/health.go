package storetest

import "testing"

// testHealth: what readiness asks of a store — it answers, and a freshly
// opened store (and the same data reopened) has every migration applied.
func testHealth(t *testing.T, h *harness) {
	ctx := ctxT(t)
	noErr(t, "Ping", h.s.Ping(ctx))
	noErr(t, "MigrationsCurrent", h.s.MigrationsCurrent(ctx))
	s := h.reopen()
	noErr(t, "MigrationsCurrent after reopen", s.MigrationsCurrent(ctx))
}
