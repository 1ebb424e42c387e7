package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store"
)

// SaveRecipe stores a new version of a tenant's recipe and drops the
// versions past recipe.KeepVersions, in one transaction. Two nodes saving
// the same recipe at once take turns on a transaction-scoped advisory
// lock on its name, so each gets its own version.
func (s *Store) SaveRecipe(ctx context.Context, r recipe.Recipe) (int, error) {
	trace, err := json.Marshal(r.Trace)
	if err != nil {
		return 0, fmt.Errorf("postgres: save recipe: %w", err)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	var version int
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "recipe/"+r.TenantID+"/"+r.Name); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM recipes WHERE tenant_id = $1 AND name = $2`,
			r.TenantID, r.Name).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO recipes (tenant_id, name, version, task_id, reason, steps, trace, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			r.TenantID, r.Name, version, r.TaskID, r.Reason, len(r.Trace.Steps), string(trace), ts(r.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM recipes WHERE tenant_id = $1 AND name = $2 AND version <= $3`,
			r.TenantID, r.Name, version-recipe.KeepVersions)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: save recipe: %w", err)
	}
	return version, nil
}

// LatestRecipe loads the newest version of a tenant's recipe.
func (s *Store) LatestRecipe(ctx context.Context, tenantID, name string) (recipe.Recipe, error) {
	r := recipe.Recipe{TenantID: tenantID, Name: name}
	var (
		trace   string
		created *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT version, task_id, reason, trace::text, created_at FROM recipes
		WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1`, tenantID, name).
		Scan(&r.Version, &r.TaskID, &r.Reason, &trace, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, store.ErrRecipeNotFound
	}
	if err != nil {
		return r, fmt.Errorf("postgres: recipe: %w", err)
	}
	r.CreatedAt = fromTS(created)
	if err := json.Unmarshal([]byte(trace), &r.Trace); err != nil {
		return r, fmt.Errorf("postgres: recipe %s v%d: %w", name, r.Version, err)
	}
	return r, nil
}

// RecordRecipeUse records one task's use of a recipe.
func (s *Store) RecordRecipeUse(ctx context.Context, u recipe.Use) error {
	if u.At.IsZero() {
		u.At = s.now()
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO recipe_uses (tenant_id, name, version, task_id, mode, replayed_steps, model_steps, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.TenantID, u.Name, u.Version, u.TaskID, u.Mode, u.ReplayedSteps, u.ModelSteps, ts(u.At))
	if err != nil {
		return fmt.Errorf("postgres: record recipe use: %w", err)
	}
	return nil
}

// Recipes lists a tenant's recipes by name, each with its versions
// (newest first) and its uses.
func (s *Store) Recipes(ctx context.Context, tenantID string) ([]recipe.Summary, error) {
	var list store.RecipeList
	rows, err := s.pool.Query(ctx, `
		SELECT name, version, task_id, reason, steps, created_at FROM recipes
		WHERE tenant_id = $1 ORDER BY name, version DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: recipes: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var (
			name    string
			v       recipe.VersionInfo
			created *time.Time
		)
		err := row.Scan(&name, &v.Version, &v.TaskID, &v.Reason, &v.Steps, &created)
		v.CreatedAt = fromTS(created)
		list.AddVersion(name, v)
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: recipes: %w", err)
	}
	rows, err = s.pool.Query(ctx, `
		SELECT name, COUNT(*), COUNT(*) FILTER (WHERE mode = 'replayed'), COUNT(*) FILTER (WHERE mode = 'healed'),
			COUNT(*) FILTER (WHERE mode = 'failed'), MAX(at)
		FROM recipe_uses WHERE tenant_id = $1 GROUP BY name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("postgres: recipe uses: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var (
			name string
			u    store.RecipeUses
			last *time.Time
		)
		err := row.Scan(&name, &u.Uses, &u.Replayed, &u.Healed, &u.Failed, &last)
		u.LastUsedAt = fromTS(last)
		list.AddUses(name, u)
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: recipe uses: %w", err)
	}
	return list.Summaries(), nil
}

// DeleteRecipe deletes every version of a tenant's recipe and its uses.
func (s *Store) DeleteRecipe(ctx context.Context, tenantID, name string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM recipes WHERE tenant_id = $1 AND name = $2`, tenantID, name)
		if err != nil {
			return fmt.Errorf("postgres: delete recipe: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrRecipeNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recipe_uses WHERE tenant_id = $1 AND name = $2`, tenantID, name); err != nil {
			return fmt.Errorf("postgres: delete recipe: %w", err)
		}
		return nil
	})
}
