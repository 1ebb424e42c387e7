package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/store/migration"
	"github.com/errandhq/errand/internal/webhook"
)

// ReadyCheck is one condition of readiness (GET /readyz) besides the
// store's own (it answers, its migrations are current), such as "the
// browser starts".
type ReadyCheck struct {
	// Name names the check in the answer, e.g. "browser".
	Name string
	// Check returns nil when ready. Its error is shown to anyone who asks
	// /readyz, without a key: it must carry no secret.
	Check func(ctx context.Context) error
}

// DefaultReadyTimeout bounds each readiness check.
const DefaultReadyTimeout = 10 * time.Second

// health is GET /start/health, the hosted service's route: the store
// answers.
func (a *api) health(w http.ResponseWriter, r *http.Request) error {
	now := webhook.FormatTime(a.Now())
	if err := a.Store.Ping(r.Context()); err != nil {
		a.Logger.ErrorContext(r.Context(), "health: store unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"success": false, "status": "unhealthy", "timestamp": now,
			"error": "the store is unreachable", "code": "UNAVAILABLE",
		})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": "healthy", "timestamp": now})
	return nil
}

// liveness is GET /healthz: the process serves HTTP. It checks nothing
// else, so that a store outage makes the node unready, not restarted.
func (a *api) liveness(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": "alive", "timestamp": webhook.FormatTime(a.Now())})
	return nil
}

// readiness is GET /readyz: the store answers, its migrations are
// current, and every ReadyCheck passes (the browser starts, when one is
// configured). The checks run at once, each bounded by ReadyTimeout.
func (a *api) readiness(w http.ResponseWriter, r *http.Request) error {
	checks := append([]ReadyCheck{{Name: "store", Check: a.storeReady}}, a.Ready...)
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), a.ReadyTimeout)
			defer cancel()
			verdict := "ok"
			if err := c.Check(ctx); err != nil {
				verdict = err.Error()
				if ctx.Err() != nil && r.Context().Err() == nil {
					verdict = "no answer within " + a.ReadyTimeout.String()
				}
				a.Logger.WarnContext(r.Context(), "not ready", "check", c.Name, "err", err)
			}
			mu.Lock()
			results[c.Name] = verdict
			mu.Unlock()
		}()
	}
	wg.Wait()
	var failing []string
	for name, v := range results {
		if v != "ok" {
			failing = append(failing, name+": "+v)
		}
	}
	body := map[string]any{"timestamp": webhook.FormatTime(a.Now()), "checks": results}
	if len(failing) > 0 {
		sort.Strings(failing)
		body["success"], body["status"], body["code"] = false, "not_ready", "UNAVAILABLE"
		body["error"] = "not ready: " + strings.Join(failing, "; ")
		writeJSON(w, http.StatusServiceUnavailable, body)
		return nil
	}
	body["success"], body["status"] = true, "ready"
	writeJSON(w, http.StatusOK, body)
	return nil
}

// storeReady: the store answers and its schema is current. Only the
// migrations' own verdict is shown; a driver's error could name hosts
// and users, so it is logged instead.
func (a *api) storeReady(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		a.Logger.ErrorContext(ctx, "readiness: store unreachable", "err", err)
		return errors.New("the store does not answer")
	}
	err := a.Store.MigrationsCurrent(ctx)
	var nc *migration.NotCurrentError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nc):
		return nc
	default:
		a.Logger.ErrorContext(ctx, "readiness: migrations could not be checked", "err", err)
		return errors.New("its migrations could not be checked")
	}
}
