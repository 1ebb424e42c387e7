package trace

import (
	"context"
	"fmt"

	"github.com/errandhq/errand/internal/task"
)

// Defaults of Capture.
const (
	DefaultQuality   = 60
	DefaultShotBytes = 300 << 10
)

// Capture is how step screenshots are taken. The zero value takes them
// with the defaults.
type Capture struct {
	// Off turns step screenshots off. Default false: on.
	Off bool
	// Quality is the JPEG quality, 1 to 100. Default 60 (DefaultQuality).
	Quality int
	// MaxBytes bounds one image: a larger one is taken again at half the
	// scale and a lower quality, and left out if still larger. Default
	// 300 KiB (DefaultShotBytes).
	MaxBytes int
}

// Take captures the viewport as a JPEG at quality (1-100) and scale (1:
// CSS pixels), hiding what the caller asked to hide, and returns the image
// and its size in pixels. browser.Tab's Screenshot, wrapped by the agent.
type Take func(ctx context.Context, quality int, scale float64) (jpeg []byte, width, height int, err error)

func (c Capture) quality() int {
	if c.Quality <= 0 || c.Quality > 100 {
		return DefaultQuality
	}
	return c.Quality
}

func (c Capture) maxBytes() int {
	if c.MaxBytes <= 0 {
		return DefaultShotBytes
	}
	return c.MaxBytes
}

// Shoot takes a step's screenshot with take, within the size bound. It
// returns nil when screenshots are off, and a screenshot with only Omitted
// set when none could be taken (the error's text, which the caller has
// masked, says why).
func (c Capture) Shoot(ctx context.Context, take Take) *task.Screenshot {
	if c.Off {
		return nil
	}
	tries := []struct {
		quality int
		scale   float64
	}{{c.quality(), 1}, {min(c.quality(), 40), 0.5}}
	for _, try := range tries {
		jpeg, w, h, err := take(ctx, try.quality, try.scale)
		if err != nil {
			return &task.Screenshot{Omitted: "not taken: " + err.Error()}
		}
		if len(jpeg) <= c.maxBytes() {
			return &task.Screenshot{JPEG: jpeg, Bytes: len(jpeg), Width: w, Height: h}
		}
	}
	return &task.Screenshot{Omitted: fmt.Sprintf("not kept: the image was larger than %d KiB even at half size", c.maxBytes()>>10)}
}
