// Package httpapi serves errand's HTTP API (docs/API.md): one decode, encode and
// error path for every route, API-key authentication and tenant isolation,
// and field-by-field validation whose problems name each bad field by JSON
// pointer.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/store"
)

// MaxBody is the largest request body accepted (docs/API.md: 1 MiB).
const MaxBody = 1 << 20

// Deps is everything the API needs.
type Deps struct {
	Engine *engine.Engine
	Store  store.Store
	// Monitors serves /monitors. Default: none (those routes answer 404).
	Monitors *runner.Runner
	// Policy judges webhook URLs at submission.
	Policy *netguard.Policy
	// BootstrapKey (ERRAND_API_KEY) is accepted besides stored keys.
	BootstrapKey string
	// Keys resolves API keys; share it with the dashboard. Default: one
	// made of Store and BootstrapKey.
	Keys *Keys
	// InlineWait is how long send-message and run-task wait for the task
	// to end before answering pending. Zero never waits.
	InlineWait time.Duration
	// MCP, if set, serves the Model Context Protocol at /mcp (internal/mcp)
	// to API-key holders. Default nil: /mcp answers 404.
	MCP http.Handler
	// Metrics, if set, is served at /metrics.
	Metrics *metrics.Metrics
	// RateLimit caps requests per second per API key (0: no limit).
	RateLimit float64
	// Ready are the readiness checks of GET /readyz besides the store's
	// (it answers, its migrations are current). Default: none.
	Ready []ReadyCheck
	// ReadyTimeout bounds each readiness check. Default
	// DefaultReadyTimeout (10s).
	ReadyTimeout time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// BootstrapTenant owns what the bootstrap key creates.
const BootstrapTenant = "tenant_bootstrap"

type api struct {
	Deps
	keys  *Keys
	limit *limiter
}

// NewHandler returns the API's http.Handler.
func NewHandler(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ReadyTimeout <= 0 {
		d.ReadyTimeout = DefaultReadyTimeout
	}
	if d.Keys == nil {
		d.Keys = &Keys{Store: d.Store, Bootstrap: d.BootstrapKey}
	}
	a := &api{Deps: d, keys: d.Keys, limit: newLimiter(d.RateLimit)}
	mux := http.NewServeMux()
	a.routes(mux)
	return a.recoverer(mux)
}

// Error is an API error: what the client is told, and what is only logged.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]string
	// Internal is logged, never sent.
	Internal error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// handlerFunc is a handler that may fail; the error is written in the
// envelope of docs/API.md.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *api) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	}
}

func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = mapEngineError(err)
	}
	if ae.Status >= 500 {
		a.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", ae.Code, "err", errOr(ae.Internal, err))
	}
	writeJSON(w, ae.Status, ae.Body())
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func mapEngineError(err error) *Error {
	// The API checks what the agent can run while decoding; this is the
	// engine's own check, for a task that got past it.
	var spec *engine.SpecError
	if errors.As(err, &spec) {
		details := map[string]string{}
		for _, p := range spec.Problems {
			details["/"+p.Field] = p.Reason
		}
		return invalid(details)
	}
	switch {
	case errors.Is(err, engine.ErrSessionNotFound):
		return errorf(http.StatusNotFound, "SESSION_NOT_FOUND", "session not found")
	case errors.Is(err, engine.ErrTaskNotFound):
		return errorf(http.StatusNotFound, "TASK_NOT_FOUND", "task not found")
	case errors.Is(err, engine.ErrSessionExpired):
		return errorf(http.StatusGone, "SESSION_EXPIRED", "the session has expired or was terminated; start a new one")
	case errors.Is(err, engine.ErrNotWaiting):
		return errorf(http.StatusConflict, "TASK_ALREADY_RUNNING", "no task of this session is waiting for a human answer")
	case errors.Is(err, engine.ErrScreenshotNotFound):
		return screenshotError(err)
	case errors.Is(err, engine.ErrFileNotFound):
		return errorf(http.StatusNotFound, "FILE_NOT_FOUND", "this task has no such file")
	case errors.Is(err, engine.ErrTaskNotEnded):
		return errorf(http.StatusConflict, "TASK_NOT_ENDED", "the task has not ended, or a webhook it owes is still being delivered; delete it once it has")
	case errors.Is(err, engine.ErrNoFinalEvent):
		return errorf(http.StatusConflict, "INVALID_REQUEST", "this task has no webhook delivery to send again")
	case errors.Is(err, context.Canceled):
		return &Error{Status: 499, Code: "INTERNAL", Message: "request cancelled", Internal: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "internal error", Internal: err}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// recoverer turns a panic into a 500 that leaks nothing, and keeps the
// process alive.
func (a *api) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.writeError(w, r, &Error{Status: 500, Code: "INTERNAL", Message: "internal error", Internal: fmt.Errorf("panic: %v", v)})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// readBody reads a JSON object body of at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the request body is larger than 1 MiB")
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "INVALID_REQUEST", "the request body could not be read")
	}
	var m map[string]json.RawMessage
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, invalid(map[string]string{"": "the body must be a JSON object"})
	}
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		reason := "the body must be a JSON object"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			reason = fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)
		}
		return nil, invalid(map[string]string{"": reason})
	}
	return m, nil
}

func invalid(details map[string]string) *Error {
	n := len(details)
	msg := "the request is invalid: "
	if n == 1 {
		for p, reason := range details {
			if p == "" {
				msg += reason
			} else {
				msg += p + " " + reason
			}
		}
	} else {
		msg += fmt.Sprintf("%d fields are invalid (see details)", n)
	}
	return &Error{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: msg, Details: details}
}

// tenantKey carries the authenticated tenant in the request context.
type tenantKey struct{}

func tenantOf(r *http.Request) string { return r.Context().Value(tenantKey{}).(string) }

// authed requires a valid API key.
func (a *api) authed(h handlerFunc) http.HandlerFunc {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		tenant, err := a.authenticate(r)
		if err != nil {
			return err
		}
		if ok, wait := a.limit.allow(tenant, a.Now()); !ok {
			return rateLimited(w, wait)
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, tenant)))
	})
}

func (a *api) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return "", errorf(http.StatusUnauthorized, "INVALID_API_KEY", "missing API key: send Authorization: Bearer <key>")
	}
	tenant, err := a.keys.Tenant(r.Context(), key)
	if errors.Is(err, ErrInvalidKey) {
		return "", errorf(http.StatusUnauthorized, "INVALID_API_KEY", "invalid API key")
	}
	if err != nil {
		return "", &Error{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "the store is unavailable", Internal: err}
	}
	return tenant, nil
}
