package postgres

import (
	"context"
	"fmt"

	"github.com/errandhq/errand/internal/store"
)

// CreateKey stores an API key (its hash only). ErrConflict if the id or the
// hash exists.
func (s *Store) CreateKey(ctx context.Context, k store.Key) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO api_keys (id, name, tenant_id, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Name, k.TenantID, k.Hash, ts(k.CreatedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: create key: %w", err)
	}
	return nil
}

// TenantByKeyHash answers the tenant of a key, ErrNotFound if unknown.
func (s *Store) TenantByKeyHash(ctx context.Context, hash string) (string, error) {
	var tenant string
	err := s.pool.QueryRow(ctx, `SELECT tenant_id FROM api_keys WHERE hash = $1`, hash).Scan(&tenant)
	if err != nil {
		return "", notFound(err)
	}
	return tenant, nil
}
