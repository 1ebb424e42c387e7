package webhook

import "flag"

// update rewrites the golden files and signature vectors in testdata/ from
// the current code. Review the diff: a change there is a change of contract.
var update = flag.Bool("update", false, "rewrite testdata/ golden files and vectors")
