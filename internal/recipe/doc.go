// Package recipe is the pure core of learned tasks: a model-driven run is
// recorded as a recipe (its steps, each element it acted on described so
// that it can be found again without this run's numbering, the state of the
// page around each step, and how the answer was read off the page), and a
// later task with the same intent replays it without the model.
//
// Everything here is a plain function over values: describing and
// comparing elements (Refind: which live candidate is the recorded element,
// or none, or several), URL patterns, page fingerprints (Reached: did the
// step lead where it led before), reading the answer off page snapshots
// (Induce, Node.Read), naming recipes and keeping secrets out of them. The
// agent drives the browser and the model, and calls these to decide; this
// package never touches either.
//
// The rule throughout is that a replay never acts on a guess: an element
// that is missing, hidden, or no longer told apart from another like it
// ("two Buy buttons where one was recorded") stops the replay, and the
// model takes over from there (a heal), recording a new version.
package recipe
