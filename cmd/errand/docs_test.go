package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's layout section lists every package of the module, so that a
// newcomer finds the room for a change from it.
func TestReadmeListsEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root = strings.TrimSuffix(root, "/cmd/errand")
	for _, dir := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(dir, root), "/") + "/"
		if !strings.Contains(string(readme), "\n"+rel+" ") {
			t.Errorf("README.md's layout does not list %s", rel)
		}
	}
}
