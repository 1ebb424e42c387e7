package agent

import (
	"strings"

	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/task"
)

// messages builds one request: the system prompt, the task, the earlier
// turns (the latest in full, older ones shortened) and the current page.
func (r *taskRun) messages(page string, final bool) []model.Message {
	msgs := []model.Message{
		{Role: model.RoleSystem, Content: r.system},
		{Role: model.RoleUser, Content: r.intro},
	}
	for i, t := range r.turns {
		latest := i == len(r.turns)-1
		msgs = append(msgs, t.assistant)
		for j, res := range t.results {
			if !latest {
				res.Content = t.short[j]
			}
			msgs = append(msgs, res)
		}
		if t.nudge != "" && latest {
			msgs = append(msgs, model.Message{Role: model.RoleUser, Content: t.nudge})
		}
	}
	var b strings.Builder
	if len(r.notes) > 0 {
		b.WriteString("Your notes:\n")
		for _, n := range r.notes {
			b.WriteString("- " + n + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("Current page:\n")
	b.WriteString(page)
	if final {
		b.WriteString("\n\nThe step limit is reached: call done with your best answer now, or give_up.")
	}
	msgs = append(msgs, model.Message{Role: model.RoleUser, Content: b.String()})
	return msgs
}

// shorten is what an older turn's result becomes: errors stay (they explain
// what not to retry), long reads become a note that they happened.
func shorten(res actResult) string {
	if res.keep || len(res.text) <= 200 {
		return res.text
	}
	return clip(res.text, 160) + " (older content dropped; use note to keep what you need)"
}

func (r *taskRun) systemPrompt() string {
	var b strings.Builder
	b.WriteString(`You are a web agent. You operate a real browser through the tools to do the user's task, then call done with the answer.
- Each turn shows the current page: URL, title, visible text; interactive elements are numbered like [12]: pass that number as id.
- Only the latest page view is kept. Save facts you need later (e.g. items from earlier pages) with note.
- extract reads the page's whole main content when the view is not enough.
- NAVIGATION_BLOCKED means that site is off limits: find another way, or give_up.
- Use ask_human only for what only the user can give (a one-time code, a choice).
- Answer only from what the pages show; never invent data.
`)
	if names := r.sec.names(); len(names) > 0 {
		b.WriteString("- Secrets: to type one, write its placeholder exactly; the real value is filled in on its own site only: " + placeholderList(names) + ".\n")
		var codes []string
		for _, n := range names {
			if r.sec.isTOTP(n) {
				codes = append(codes, n)
			}
		}
		if len(codes) > 0 {
			b.WriteString("- " + placeholderList(codes) + " type the one-time code of an authenticator, valid at the moment it is typed: use it where the site asks for a verification or 2FA code, right before submitting.\n")
		}
	}
	switch r.spec.OutputType {
	case task.OutputJSON:
		b.WriteString("done's answer must be JSON valid against this JSON Schema:\n")
		b.Write(compactJSON(r.spec.OutputSchema))
	case task.OutputCSV:
		b.WriteString("done's answer must be CSV (RFC 4180) whose first row is exactly: " + strings.Join(r.columns, ",") +
			"\nthen one row per record; quote cells containing commas, quotes or line breaks.")
	default:
		b.WriteString("done's answer is the result in markdown.")
	}
	return b.String()
}

func (r *taskRun) taskMessage() string {
	t := r.req.Task
	var b strings.Builder
	b.WriteString("Task: " + r.sec.mask(r.spec.TaskDetails))
	if r.spec.StartingPoint != "" {
		b.WriteString("\nStarting point: " + r.sec.mask(r.spec.StartingPoint))
	}
	if t.Answer != "" {
		// The conversation is not kept across a pause: what matters of it
		// is the question and its answer.
		q := t.Question
		if q == "" {
			q = "(your question)"
		}
		b.WriteString("\n\nEarlier in this task you asked the user: " + r.sec.mask(q) +
			"\nThe user answered: " + r.sec.mask(t.Answer) + "\nContinue the task from the current page.")
	}
	return b.String()
}
