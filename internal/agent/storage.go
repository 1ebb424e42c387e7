package agent

import "context"

// StorageKeeper is a Browser whose sessions' storage (cookies, local
// storage) can be saved and restored; browser.Chromium is one. A monitor
// keeps its login this way between runs (see engine.SessionStorage).
type StorageKeeper interface {
	ImportStorage(ctx context.Context, sessionID string, state []byte) error
	ExportStorage(ctx context.Context, sessionID string, previous []byte) ([]byte, error)
}

// ImportStorage restores a session's browser storage, when the browser
// keeps storage.
func (a *LLM) ImportStorage(ctx context.Context, sessionID string, state []byte) error {
	if k, ok := a.Browser.(StorageKeeper); ok {
		return k.ImportStorage(ctx, sessionID, state)
	}
	return nil
}

// ExportStorage returns a session's browser storage merged over previous,
// when the browser keeps storage; else previous.
func (a *LLM) ExportStorage(ctx context.Context, sessionID string, previous []byte) ([]byte, error) {
	if k, ok := a.Browser.(StorageKeeper); ok {
		return k.ExportStorage(ctx, sessionID, previous)
	}
	return previous, nil
}
