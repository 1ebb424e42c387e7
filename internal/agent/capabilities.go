package agent

import "github.com/errandhq/errand/internal/task"

// Capabilities declares what the built-in extractor cannot run: it reads
// the page it is given (no startingPoint, nothing to read) and never types
// (secrets would go unused). The engine refuses such tasks at submission.
func (b *Builtin) Capabilities() task.Capabilities {
	return task.Capabilities{
		Name:               "the built-in extractor (no model configured)",
		NeedsStartingPoint: true,
		NoTyping:           true,
		Remedy:             "a model-driven agent (errand serve --model-url) can",
	}
}

// Capabilities declares that the model-driven agent can run any task: it
// finds its own pages and types secrets.
func (l *LLM) Capabilities() task.Capabilities { return task.Capabilities{} }
