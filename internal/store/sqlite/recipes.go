package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store"
)

// SaveRecipe stores a new version of a tenant's recipe and drops the
// versions past recipe.KeepVersions, in one transaction.
func (s *Store) SaveRecipe(ctx context.Context, r recipe.Recipe) (int, error) {
	trace, err := json.Marshal(r.Trace)
	if err != nil {
		return 0, fmt.Errorf("sqlite: save recipe: %w", err)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	var version int
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM recipes WHERE tenant_id = ? AND name = ?`,
			r.TenantID, r.Name).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO recipes (tenant_id, name, version, task_id, reason, steps, trace, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.TenantID, r.Name, version, r.TaskID, r.Reason, len(r.Trace.Steps), string(trace), ms(r.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM recipes WHERE tenant_id = ? AND name = ? AND version <= ?`,
			r.TenantID, r.Name, version-recipe.KeepVersions)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: save recipe: %w", err)
	}
	return version, nil
}

// LatestRecipe loads the newest version of a tenant's recipe.
func (s *Store) LatestRecipe(ctx context.Context, tenantID, name string) (recipe.Recipe, error) {
	r := recipe.Recipe{TenantID: tenantID, Name: name}
	var (
		trace   string
		created sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT version, task_id, reason, trace, created_at FROM recipes
		WHERE tenant_id = ? AND name = ? ORDER BY version DESC LIMIT 1`, tenantID, name).
		Scan(&r.Version, &r.TaskID, &r.Reason, &trace, &created)
	if err == sql.ErrNoRows {
		return r, store.ErrRecipeNotFound
	}
	if err != nil {
		return r, fmt.Errorf("sqlite: recipe: %w", err)
	}
	r.CreatedAt = fromMS(created)
	if err := json.Unmarshal([]byte(trace), &r.Trace); err != nil {
		return r, fmt.Errorf("sqlite: recipe %s v%d: %w", name, r.Version, err)
	}
	return r, nil
}

// RecordRecipeUse records one task's use of a recipe.
func (s *Store) RecordRecipeUse(ctx context.Context, u recipe.Use) error {
	if u.At.IsZero() {
		u.At = s.now()
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO recipe_uses (tenant_id, name, version, task_id, mode, replayed_steps, model_steps, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.TenantID, u.Name, u.Version, u.TaskID, u.Mode, u.ReplayedSteps, u.ModelSteps, ms(u.At))
	if err != nil {
		return fmt.Errorf("sqlite: record recipe use: %w", err)
	}
	return nil
}

// Recipes lists a tenant's recipes by name, each with its versions
// (newest first) and its uses.
func (s *Store) Recipes(ctx context.Context, tenantID string) ([]recipe.Summary, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT name, version, task_id, reason, steps, created_at FROM recipes
		WHERE tenant_id = ? ORDER BY name, version DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recipes: %w", err)
	}
	var list store.RecipeList
	for rows.Next() {
		var (
			name    string
			v       recipe.VersionInfo
			created sql.NullInt64
		)
		if err := rows.Scan(&name, &v.Version, &v.TaskID, &v.Reason, &v.Steps, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: recipes: %w", err)
		}
		v.CreatedAt = fromMS(created)
		list.AddVersion(name, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: recipes: %w", err)
	}
	rows, err = s.db.QueryContext(ctx, `
		SELECT name, COUNT(*), SUM(mode = 'replayed'), SUM(mode = 'healed'), SUM(mode = 'failed'), MAX(at)
		FROM recipe_uses WHERE tenant_id = ? GROUP BY name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recipe uses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			u    store.RecipeUses
			last sql.NullInt64
		)
		if err := rows.Scan(&name, &u.Uses, &u.Replayed, &u.Healed, &u.Failed, &last); err != nil {
			return nil, fmt.Errorf("sqlite: recipe uses: %w", err)
		}
		u.LastUsedAt = fromMS(last)
		list.AddUses(name, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: recipe uses: %w", err)
	}
	return list.Summaries(), nil
}

// DeleteRecipe deletes every version of a tenant's recipe and its uses.
func (s *Store) DeleteRecipe(ctx context.Context, tenantID, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM recipes WHERE tenant_id = ? AND name = ?`, tenantID, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete recipe: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrRecipeNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recipe_uses WHERE tenant_id = ? AND name = ?`, tenantID, name); err != nil {
			return fmt.Errorf("sqlite: delete recipe: %w", err)
		}
		return nil
	})
}
