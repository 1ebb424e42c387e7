package agent

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/errandhq/errand/internal/task"
)

// The memo of a monitor's run (task.RunMemo): when the page the agent
// reads is the same as at the previous run, and the previous answer was
// read from that page alone, the answer is the same — so the agent gives
// it again without extracting or asking the model (0 tokens). What counts
// as "the page" is what the agent reads: the rendered page the built-in
// extractor reads, the model's first page view (in full, before any
// clipping). The fingerprint covers the question too (details, output
// type and schema, starting point), so a different task never reuses an
// answer.

// pageHash fingerprints what an agent read to answer spec.
func pageHash(spec task.Spec, read ...string) string {
	h := sha256.New()
	for _, part := range append([]string{spec.TaskDetails, string(spec.OutputType), string(spec.OutputSchema), spec.StartingPoint}, read...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// reuse returns the memo's answer when the page read now hashes as the one
// it was read from.
func reuse(memo *task.RunMemo, hash string) (string, bool) {
	if memo == nil || memo.PageHash == "" || memo.PageHash != hash || memo.Answer == "" {
		return "", false
	}
	return memo.Answer, true
}

// unchangedStep is the step a run records when it answers from its memo.
func unchangedStep(n int, url string) task.Step {
	return task.Step{N: n, Action: "unchanged", URL: url,
		Error: "the page reads as at the previous run: its answer is given again, without extracting or asking the model"}
}

// unchanged answers from the memo at the first page view, when the page
// reads as at the previous run; it records that view's fingerprint.
func (r *taskRun) unchanged(obs observation) *task.Outcome {
	if r.calls > 0 || r.firstView != "" {
		return nil
	}
	r.firstView = obs.hash
	answer, ok := reuse(r.req.Memo, obs.hash)
	if !ok {
		return nil
	}
	r.step(unchangedStep(r.steps+1, r.tab.URL()))
	return &task.Outcome{Message: answer, PageHash: obs.hash}
}

// readsOnly reports tools that neither change the page nor read beyond
// the page view: an answer read after only these came from the first view.
func readsOnly(tool string) bool {
	return tool == toolDone || tool == toolNote || tool == toolGiveUp
}
