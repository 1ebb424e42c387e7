package trace

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/store"
)

// Defaults of Retention.
const (
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultTotalBytes = int64(2) << 30
	DefaultEvery      = 10 * time.Minute
)

// Retention bounds what the traces keep. The zero value is the defaults.
type Retention struct {
	// MaxAge is how long a screenshot is kept. Default 7 days
	// (DefaultMaxAge); negative: no age limit.
	MaxAge time.Duration
	// MaxBytes caps the screenshots of all tasks together; the oldest go
	// first. Default 2 GiB (DefaultTotalBytes); negative: no size limit.
	MaxBytes int64
	// Every is how often the Janitor enforces it. Default 10 minutes
	// (DefaultEvery).
	Every time.Duration
}

func (r Retention) maxAge() time.Duration {
	if r.MaxAge == 0 {
		return DefaultMaxAge
	}
	return r.MaxAge
}

func (r Retention) maxBytes() int64 {
	if r.MaxBytes == 0 {
		return DefaultTotalBytes
	}
	return r.MaxBytes
}

func (r Retention) every() time.Duration {
	if r.Every <= 0 {
		return DefaultEvery
	}
	return r.Every
}

// Pruner is the store's side of the retention (store.Store implements it).
type Pruner interface {
	PruneScreenshots(ctx context.Context, p store.PruneParams) (store.Pruned, error)
}

// Janitor enforces a Retention periodically.
type Janitor struct {
	// Store is where the screenshots are. Required.
	Store Pruner
	// Retention is what to keep. Default: the Retention defaults.
	Retention Retention
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger reports what was removed and failures. Default: discard.
	Logger *slog.Logger
}

// Params is what one pass of the retention asks of the store at now.
func (r Retention) Params(now time.Time) store.PruneParams {
	p := store.PruneParams{MaxBytes: r.maxBytes()}
	var limits []string
	if age := r.maxAge(); age > 0 {
		p.Before = now.Add(-age)
		limits = append(limits, "for "+days(age))
	}
	if p.MaxBytes > 0 {
		limits = append(limits, "up to "+sizeText(p.MaxBytes)+" in all")
	}
	p.Reason = "removed by the trace retention"
	if len(limits) > 0 {
		p.Reason += " (screenshots are kept " + strings.Join(limits, ", ") + ")"
	}
	return p
}

// Prune enforces the retention once.
func (j *Janitor) Prune(ctx context.Context) (store.Pruned, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	return j.Store.PruneScreenshots(ctx, j.Retention.Params(now()))
}

// Run prunes at once and then every Retention.Every until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(j.Retention.every())
	defer tick.Stop()
	for {
		p, err := j.Prune(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("trace retention failed; it is tried again later", "err", err)
		case p.Removed > 0:
			log.Info("trace retention removed screenshots", "removed", p.Removed, "bytes", p.RemovedBytes, "keptBytes", p.KeptBytes)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}

func sizeText(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
