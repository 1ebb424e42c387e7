package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/errandhq/errand/internal/recipe"
)

// ErrRecipeNotFound is ErrNotFound for recipes: errors.Is finds both
// ErrNotFound and recipe.ErrNotFound in it, so the agent tells "no recipe
// yet" from a failing store without importing this package.
var ErrRecipeNotFound = fmt.Errorf("%w: %w", ErrNotFound, recipe.ErrNotFound)

// RecipeUses counts a recipe's uses, for implementations of Recipes.
type RecipeUses struct {
	Uses, Replayed, Healed, Failed int
	LastUsedAt                     time.Time
}

// RecipeList assembles Recipes' answer from the rows both stores read:
// versions, then use counts, by name.
type RecipeList struct {
	list []recipe.Summary
}

func (l *RecipeList) find(name string) *recipe.Summary {
	i := slices.IndexFunc(l.list, func(s recipe.Summary) bool { return s.Name == name })
	if i < 0 {
		l.list = append(l.list, recipe.Summary{Name: name, Versions: []recipe.VersionInfo{}})
		i = len(l.list) - 1
	}
	return &l.list[i]
}

// AddVersion adds one stored version; call it in the order to list them.
func (l *RecipeList) AddVersion(name string, v recipe.VersionInfo) {
	s := l.find(name)
	s.Versions = append(s.Versions, v)
}

// AddUses sets a recipe's use counts; uses of a recipe without versions
// (all deleted) are left out.
func (l *RecipeList) AddUses(name string, u RecipeUses) {
	if !slices.ContainsFunc(l.list, func(s recipe.Summary) bool { return s.Name == name }) {
		return
	}
	s := l.find(name)
	s.Uses, s.Replayed, s.Healed, s.Failed = u.Uses, u.Replayed, u.Healed, u.Failed
	if !u.LastUsedAt.IsZero() {
		at := u.LastUsedAt
		s.LastUsedAt = &at
	}
}

// Summaries is the list, by name.
func (l *RecipeList) Summaries() []recipe.Summary {
	out := slices.Clone(l.list)
	slices.SortFunc(out, func(a, b recipe.Summary) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	if out == nil {
		out = []recipe.Summary{}
	}
	return out
}
