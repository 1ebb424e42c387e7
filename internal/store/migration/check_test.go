package migration

import (
	"errors"
	"slices"
	"testing"
)

func TestCheck(t *testing.T) {
	ms := []Migration{{Version: 1, Name: "init"}, {Version: 2, Name: "sealed"}, {Version: 3, Name: "more"}}
	cases := []struct {
		name    string
		applied []int
		river   []string
		missing []int
		msg     string
	}{
		{"all applied", []int{1, 2, 3}, nil, nil, ""},
		{"a newer node applied more", []int{1, 2, 3, 4}, nil, nil, ""},
		{"nothing applied", nil, nil, []int{1, 2, 3}, "the schema is not current: unapplied migrations 001, 002, 003"},
		{"one reverted", []int{1, 3}, nil, []int{2}, "the schema is not current: unapplied migrations 002"},
		{"River behind", []int{1, 2, 3}, []string{"Unapplied migrations: [6]"}, nil, "the schema is not current: River: Unapplied migrations: [6]"},
		{"both behind", []int{1}, []string{"Unapplied migrations: [5 6]"}, []int{2, 3}, "the schema is not current: unapplied migrations 002, 003; River: Unapplied migrations: [5 6]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(ms, tc.applied, tc.river)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var nc *NotCurrentError
			if !errors.As(err, &nc) {
				t.Fatalf("Check = %v, want a *NotCurrentError", err)
			}
			if !slices.Equal(nc.Errand, tc.missing) || err.Error() != tc.msg {
				t.Errorf("Check = %v (%v), want %q (%v)", err, nc.Errand, tc.msg, tc.missing)
			}
		})
	}
}
