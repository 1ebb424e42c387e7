package agent

import "time"

// OnShotWait tells f how long a's loop waits for each step screenshot, for
// the trace benchmark.
func OnShotWait(a *LLM, f func(time.Duration)) { a.shotWaited = f }
