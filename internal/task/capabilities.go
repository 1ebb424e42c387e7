package task

// Capabilities is what an agent can do with a task, so that a task it
// cannot run is refused when it is submitted (a 400 naming the field)
// instead of being queued and failing later — perhaps in silence, since
// failure webhooks are opt-in. The zero value can run anything; an agent
// declares what it cannot.
type Capabilities struct {
	// Name names the agent in refusals, e.g. "the built-in extractor (no
	// model configured)". Default "the agent".
	Name string
	// NeedsStartingPoint: the agent reads the page it is given and cannot
	// look for one itself. Default false.
	NeedsStartingPoint bool
	// NoTyping: the agent never types into pages, so a task's secrets
	// could not be used. Default false.
	NoTyping bool
	// Remedy tells the operator how to get an agent that can, e.g.
	// "configure a model with --model-url". Default none.
	Remedy string
}

// SpecProblem is a field of a task that cannot be run, named as in the
// task object ("startingPoint"), and why.
type SpecProblem struct {
	Field  string
	Reason string
}

// Refusals lists the fields of s that an agent with these capabilities
// cannot run; none when it can run s.
func (c Capabilities) Refusals(s Spec) []SpecProblem {
	name := c.Name
	if name == "" {
		name = "the agent"
	}
	remedy := ""
	if c.Remedy != "" {
		remedy = "; " + c.Remedy
	}
	var out []SpecProblem
	if c.NeedsStartingPoint && s.StartingPoint == "" {
		out = append(out, SpecProblem{"startingPoint",
			"is required: " + name + " reads the page it is given and cannot look for one" + remedy})
	}
	if c.NoTyping && len(s.Secrets) > 0 {
		out = append(out, SpecProblem{"secrets",
			"cannot be used: " + name + " never types into pages" + remedy})
	}
	return out
}
