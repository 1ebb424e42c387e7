// Package output knows the three shapes a task's result can take — markdown
// text, a JSON value described by the caller's JSON Schema, and CSV with a
// fixed header — and checks results against them.
//
// The same checks serve two moments: at submission, where a caller's
// outputSchema must compile (a 400 otherwise), and at the end of a task, where
// whatever produced the answer (the built-in extractor or a language model)
// must match what was asked before anything is reported. Error messages are
// written for the caller and, for model answers, for the model's repair turn,
// so they name what is wrong in plain sentences.
package output

import (
	"errors"
	"strings"
)

// CheckText reports whether s is acceptable as a text answer: markdown has no
// structure to check, but an empty answer is never a result.
func CheckText(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("the answer is empty")
	}
	return nil
}
