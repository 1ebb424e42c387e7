// Package metrics holds errand's Prometheus metrics: what operators watch
// to see tasks run, tokens spent and webhooks delivered. Methods on a nil
// *Metrics do nothing, so code paths need no checks.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Depths reports what waits in the store: read at each scrape.
type Depths func(ctx context.Context) (tasksQueued, tasksRunning, deliveriesPending int64, err error)

// Metrics are the collectors of one errand node.
type Metrics struct {
	reg *prometheus.Registry

	tasksStarted   prometheus.Counter
	tasksEnded     *prometheus.CounterVec
	taskDuration   prometheus.Histogram
	steps          prometheus.Counter
	tokens         *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	deliveryLag    prometheus.Histogram
	endpointFails  *prometheus.CounterVec
	recipeRuns     *prometheus.CounterVec
	browserCtxFunc func() int
}

// New registers errand's metrics (and the Go runtime's) in a registry of
// their own. depths may be nil.
func New(depths Depths) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.tasksStarted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "errand_tasks_started_total", Help: "Task runs started on this node.",
	})
	m.tasksEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "errand_tasks_ended_total", Help: "Task runs ended on this node, by status and failure code.",
	}, []string{"status", "code"})
	m.taskDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "errand_task_duration_seconds", Help: "Wall-clock time of task runs.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	})
	m.steps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "errand_agent_steps_total", Help: "Agent steps recorded.",
	})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "errand_model_tokens_total", Help: "Language-model tokens used, by kind (input, output).",
	}, []string{"kind"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "errand_webhook_attempts_total", Help: "Webhook attempts, by event and outcome (delivered, retry, failed).",
	}, []string{"event", "outcome"})
	m.deliveryLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "errand_webhook_delivery_lag_seconds",
		Help:    "From the event being committed (task final) to the receiver's 2xx, first attempt included.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
	})
	m.endpointFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "errand_webhook_endpoint_failures_total", Help: "Failed webhook attempts per receiver host.",
	}, []string{"host"})
	m.recipeRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "errand_recipe_runs_total",
		Help: "Task runs that involved a learned task (recipe), by mode: recorded, replayed (no model call), healed (the model took over), failed.",
	}, []string{"mode"})
	for _, mode := range []string{"recorded", "replayed", "healed", "failed"} {
		m.recipeRuns.WithLabelValues(mode) // listed from the start, at 0
	}
	m.reg.MustRegister(m.tasksStarted, m.tasksEnded, m.taskDuration, m.steps, m.tokens,
		m.deliveries, m.deliveryLag, m.endpointFails, m.recipeRuns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "errand_browser_contexts", Help: "Browser contexts open (one per active session).",
	}, func() float64 {
		if m.browserCtxFunc == nil {
			return 0
		}
		return float64(m.browserCtxFunc())
	}))
	if depths != nil {
		m.reg.MustRegister(&depthCollector{depths: depths})
	}
	return m
}

// CountBrowserContexts sets where the browser context gauge reads from.
func (m *Metrics) CountBrowserContexts(f func() int) {
	if m != nil {
		m.browserCtxFunc = f
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// TaskStarted counts a task run starting.
func (m *Metrics) TaskStarted() {
	if m != nil {
		m.tasksStarted.Inc()
	}
}

// TaskEnded counts a task run's end and its cost.
func (m *Metrics) TaskEnded(status, code string, d time.Duration, inputTokens, outputTokens int64) {
	if m == nil {
		return
	}
	m.tasksEnded.WithLabelValues(status, code).Inc()
	m.taskDuration.Observe(d.Seconds())
	m.tokens.WithLabelValues("input").Add(float64(inputTokens))
	m.tokens.WithLabelValues("output").Add(float64(outputTokens))
}

// RecipeRun counts a run that recorded, replayed or healed a recipe, or
// failed while replaying one.
func (m *Metrics) RecipeRun(mode string) {
	if m != nil {
		m.recipeRuns.WithLabelValues(mode).Inc()
	}
}

// Step counts an agent step.
func (m *Metrics) Step() {
	if m != nil {
		m.steps.Inc()
	}
}

// Attempt counts a webhook attempt; lag is from the event's commit to a
// successful answer (zero when it did not succeed).
func (m *Metrics) Attempt(event, outcome, host string, lag time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(event, outcome).Inc()
	if outcome == "delivered" {
		m.deliveryLag.Observe(lag.Seconds())
	} else {
		m.endpointFails.WithLabelValues(host).Inc()
	}
}

// depthCollector reads queue depths from the store at scrape time.
type depthCollector struct{ depths Depths }

var (
	descTasksQueued  = prometheus.NewDesc("errand_tasks_queued", "Tasks waiting to run (all nodes).", nil, nil)
	descTasksRunning = prometheus.NewDesc("errand_tasks_running", "Tasks running (all nodes).", nil, nil)
	descDeliveries   = prometheus.NewDesc("errand_webhook_deliveries_pending", "Webhook deliveries owed and not yet settled (all nodes).", nil, nil)
)

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTasksQueued
	ch <- descTasksRunning
	ch <- descDeliveries
}

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, r, d, err := c.depths(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descTasksQueued, prometheus.GaugeValue, float64(q))
	ch <- prometheus.MustNewConstMetric(descTasksRunning, prometheus.GaugeValue, float64(r))
	ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.GaugeValue, float64(d))
}
