package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/errandhq/errand/internal/store"
)

// ErrInvalidKey: no such API key.
var ErrInvalidKey = errors.New("invalid API key")

// Keys resolves API keys to their tenants: the bootstrap key
// (ERRAND_API_KEY), then the stored keys by hash. The API and the
// dashboard share one, so that a key sees the same tenant in both.
type Keys struct {
	// Store holds the stored keys. Required.
	Store store.Store
	// Bootstrap is accepted besides stored keys, for BootstrapTenant.
	// Default: none.
	Bootstrap string

	cache sync.Map // key hash -> tenant id (stored keys are never changed)
}

// Tenant answers the tenant of key: ErrInvalidKey for an unknown key, or
// the store's error when it cannot tell.
func (k *Keys) Tenant(ctx context.Context, key string) (string, error) {
	if key == "" {
		return "", ErrInvalidKey
	}
	if k.Bootstrap != "" && subtle.ConstantTimeCompare([]byte(key), []byte(k.Bootstrap)) == 1 {
		return BootstrapTenant, nil
	}
	hash := HashKey(key)
	if t, ok := k.cache.Load(hash); ok {
		return t.(string), nil
	}
	tenant, err := k.Store.TenantByKeyHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrInvalidKey
	}
	if err != nil {
		return "", err
	}
	k.cache.Store(hash, tenant)
	return tenant, nil
}

// HashKey is how API keys are stored: hex SHA-256. Keys are 256-bit random
// values, so a fast hash is enough (no password stretching needed).
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
