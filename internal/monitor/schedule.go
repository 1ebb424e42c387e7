package monitor

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultMinInterval is the shortest interval a schedule may have unless
// the operator sets another.
const DefaultMinInterval = time.Minute

// MaxSpread caps how far a cron schedule's runs are spread after the times
// the expression names: a daily check at 09:00 starts by 09:05, not at
// noon. "@every" schedules name no time of day and are spread over their
// whole interval.
const MaxSpread = 5 * time.Minute

// maxEvery bounds "@every" intervals (a year), keeping the arithmetic of
// run times far from overflow.
const maxEvery = 366 * 24 * time.Hour

// Schedule is when a monitor runs: a parsed expression in a time zone.
type Schedule struct {
	every time.Duration      // "@every" schedules
	spec  *cron.SpecSchedule // cron expressions and descriptors
	loc   *time.Location
	gap   time.Duration // the shortest time between two runs
}

// FieldError is a problem with one field of a request, named by its JSON
// Pointer in the request body.
type FieldError struct {
	Pointer string
	Reason  string
}

func (e *FieldError) Error() string { return e.Pointer + ": " + e.Reason }

// ParseSchedule reads a schedule — a 5-field cron expression (minute hour
// day-of-month month day-of-week), a descriptor such as "@hourly", or
// "@every 15m" — in the IANA time zone timezone ("" is UTC). Its errors
// are *FieldError naming /schedule or /timezone.
func ParseSchedule(expr, timezone string) (Schedule, error) {
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil || timezone == "Local" || strings.EqualFold(timezone, "local") {
			return Schedule{}, &FieldError{"/timezone", "must be an IANA time zone such as Europe/Paris or UTC"}
		}
		loc = l
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return Schedule{}, &FieldError{"/schedule", "must not be empty"}
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Schedule{}, &FieldError{"/schedule", "give the time zone in the timezone field, not in the expression"}
	}
	if rest, ok := strings.CutPrefix(expr, "@every"); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Second || d > maxEvery {
			return Schedule{}, &FieldError{"/schedule", "@every takes a duration from 1s to 8784h, such as @every 15m"}
		}
		return Schedule{every: d, loc: loc, gap: d}, nil
	}
	parsed, err := cron.ParseStandard(expr)
	if err != nil {
		return Schedule{}, &FieldError{"/schedule", "must be a 5-field cron expression (minute hour day-of-month month day-of-week), a descriptor such as @hourly, or @every 15m: " + err.Error()}
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return Schedule{}, &FieldError{"/schedule", "must be a 5-field cron expression or @every 15m"}
	}
	spec.Location = loc
	s := Schedule{spec: spec, loc: loc}
	s.gap = s.shortestGap()
	if s.gap == 0 {
		return Schedule{}, &FieldError{"/schedule", "never runs: no date matches the expression"}
	}
	return s, nil
}

// shortestGap is the least time between two of the first firings after a
// fixed instant (so that it, and the spread that depends on it, is the same
// on every node and after every restart); 0 when the expression never
// fires.
func (s Schedule) shortestGap() time.Duration {
	const firings = 200
	horizon := 8 * 366 * 24 * time.Hour
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, s.loc)
	prev := s.spec.Next(start)
	if prev.IsZero() {
		return 0
	}
	gap := horizon
	for i := 0; i < firings; i++ {
		next := s.spec.Next(prev)
		if next.IsZero() || next.Sub(start) > horizon {
			break
		}
		gap = min(gap, next.Sub(prev))
		prev = next
	}
	return gap
}

// Interval is the shortest time between two runs, for the minimum
// interval check.
func (s Schedule) Interval() time.Duration { return s.gap }

// Check refuses a schedule whose runs would come closer than minInterval.
func (s Schedule) Check(minInterval time.Duration) error {
	if s.gap < minInterval {
		return &FieldError{"/schedule", fmt.Sprintf("runs every %s; the minimum interval is %s", s.gap, minInterval)}
	}
	return nil
}

// Next is the monitor's first run time strictly after after. The runs of
// monitors on the same schedule are spread: each monitor's runs come at an
// offset fixed by its id — within the whole interval for "@every", within
// min(interval, MaxSpread) after the named times for cron — so that 10,000
// monitors do not start in the same second, and a monitor's own runs stay
// one interval apart. Zero if the schedule never runs again.
//
// Run times are whole milliseconds, the precision the stores keep: a time
// stored and read back is the time computed, so a run claimed just after
// its time never finds itself due again.
func (s Schedule) Next(after time.Time, id string) time.Time {
	t := s.next(after, id)
	for !t.IsZero() && !t.Truncate(time.Millisecond).After(after) {
		t = s.next(t, id)
	}
	return t.Truncate(time.Millisecond)
}

func (s Schedule) next(after time.Time, id string) time.Time {
	f := fraction(id)
	if s.every > 0 {
		d := s.every.Nanoseconds()
		off := time.Duration(f * float64(d)).Truncate(time.Millisecond).Nanoseconds()
		n := after.UnixNano() - off
		k := n / d
		if n < 0 && n%d != 0 {
			k-- // floor, not truncation
		}
		return time.Unix(0, (k+1)*d+off).UTC()
	}
	off := time.Duration(f * float64(min(s.gap, MaxSpread))).Truncate(time.Millisecond)
	base := s.spec.Next(after.Add(-off))
	if base.IsZero() {
		return time.Time{}
	}
	return base.Add(off).UTC()
}

// fraction maps an id to [0, 1) evenly and the same way everywhere.
func fraction(id string) float64 {
	sum := sha256.Sum256([]byte(id))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
