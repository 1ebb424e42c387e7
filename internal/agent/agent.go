// Package agent runs a task: it loads pages, decides what to do and produces
// the answer in the requested shape. Two implementations: the built-in
// extractor (Builtin, no language model) and the browser+model loop (LLM).
// Both satisfy engine.Agent, and LLM engine.SessionEnder; the engine
// declares those interfaces and does not import this package (so the core
// links neither chromedp nor openai-go): cmd/errand wires them.
package agent

import "github.com/errandhq/errand/internal/task"

// Request is one run of a task. It is task.RunRequest, which the engine
// builds without importing this package.
type Request = task.RunRequest
