package httpapi

import "net/http"

// routes lists the whole API surface.
func (a *api) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /start/health", a.handle(a.health))
	mux.HandleFunc("POST /start/start-session", a.authed(a.startSession))
	mux.HandleFunc("POST /start/send-message", a.authed(a.sendMessage))
	mux.HandleFunc("POST /start/run-task", a.authed(a.runTask))
	mux.HandleFunc("GET /task/{sessionId}/{taskId}", a.authed(a.getTask))
	mux.HandleFunc("GET /task/{sessionId}/{taskId}/deliveries", a.authed(a.getDeliveries))
	mux.HandleFunc("POST /task/{sessionId}/{taskId}/deliveries/redeliver", a.authed(a.redeliver))
	mux.HandleFunc("GET /task/{sessionId}/{taskId}/events", a.authed(a.taskEvents))
	mux.HandleFunc("GET /metrics", a.handle(a.metrics))
	mux.HandleFunc("/", a.handle(notFound))
}

func (a *api) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.Metrics == nil {
		return errorf(http.StatusNotFound, "NOT_FOUND", "metrics are not enabled")
	}
	a.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

func notFound(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotFound, "NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path)
}
