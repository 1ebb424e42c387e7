// Package migration reads a store's embedded schema migrations: numbered
// NNN_name.up.sql / NNN_name.down.sql pairs. Applying them is each store's
// job (the SQL and the bookkeeping table differ); reading and ordering them
// is the same for all.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered step of a schema.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// Load reads dir of fsys, in version order. Every version needs both its up
// and its down file.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		name := e.Name()
		base, direction, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), ".")
		num, label, ok2 := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || (direction != "up" && direction != "down") {
			return nil, fmt.Errorf("migration: bad file name %q (want NNN_name.up.sql or NNN_name.down.sql)", name)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v, Name: label}
			byVersion[v] = m
		}
		if direction == "up" {
			m.Up = string(body)
		} else {
			m.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration: version %d lacks its up or down file", m.Version)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Unapplied lists, in order, the versions of ms that are not in applied:
// what a store still lacks to be current.
func Unapplied(ms []Migration, applied []int) []int {
	have := make(map[int]bool, len(applied))
	for _, v := range applied {
		have[v] = true
	}
	var missing []int
	for _, m := range ms {
		if !have[m.Version] {
			missing = append(missing, m.Version)
		}
	}
	return missing
}

// NotCurrentError says which migrations a store lacks. Its message names
// versions only, so it may be shown to anyone (a readiness probe).
type NotCurrentError struct {
	// Errand lists errand's own unapplied versions; River is River's
	// validation message, empty when River's schema is current.
	Errand []int
	River  string
}

func (e *NotCurrentError) Error() string {
	var parts []string
	if len(e.Errand) > 0 {
		vs := make([]string, len(e.Errand))
		for i, v := range e.Errand {
			vs[i] = fmt.Sprintf("%03d", v)
		}
		parts = append(parts, "unapplied migrations "+strings.Join(vs, ", "))
	}
	if e.River != "" {
		parts = append(parts, "River: "+e.River)
	}
	return "the schema is not current: " + strings.Join(parts, "; ")
}

// Check is a store's verdict on its schema: nil when every migration of ms
// is in applied and River reported nothing unapplied (riverProblems, its
// validation messages), else a *NotCurrentError.
func Check(ms []Migration, applied []int, riverProblems []string) error {
	nc := &NotCurrentError{Errand: Unapplied(ms, applied), River: strings.Join(riverProblems, "; ")}
	if len(nc.Errand) == 0 && nc.River == "" {
		return nil
	}
	return nc
}
