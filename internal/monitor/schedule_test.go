package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		expr, tz string
		field    string
		reason   string
	}{
		{"", "", "/schedule", "must not be empty"},
		{"* * * *", "", "/schedule", "5-field cron"},
		{"61 * * * *", "", "/schedule", "5-field cron"},
		{"* * * * * *", "", "/schedule", "5-field cron"},
		{"@every", "", "/schedule", "@every takes"},
		{"@every 0s", "", "/schedule", "@every takes"},
		{"@every -5m", "", "/schedule", "@every takes"},
		{"@every 10y", "", "/schedule", "@every takes"},
		{"@every 500ms", "", "/schedule", "@every takes"},
		{"@fortnightly", "", "/schedule", "5-field cron"},
		{"CRON_TZ=Europe/Paris * * * * *", "", "/schedule", "timezone field"},
		{"TZ=UTC", "", "/schedule", "timezone field"},
		{"0 0 31 2 *", "", "/schedule", "never runs"},
		{"* * * * *", "Mars/Olympus", "/timezone", "IANA"},
		{"* * * * *", "Local", "/timezone", "IANA"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"|"+tt.tz, func(t *testing.T) {
			_, err := ParseSchedule(tt.expr, tt.tz)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FieldError", err)
			}
			if fe.Pointer != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("got %s: %s; want %s containing %q", fe.Pointer, fe.Reason, tt.field, tt.reason)
			}
		})
	}
}

func TestScheduleIntervalAndMinimum(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
	}{
		{"* * * * *", time.Minute},
		{"*/15 * * * *", 15 * time.Minute},
		{"0,1 * * * *", time.Minute},
		{"0 9 * * 1-5", 24 * time.Hour},
		{"@hourly", time.Hour},
		{"@every 90s", 90 * time.Second},
		{"@every 15m", 15 * time.Minute},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.expr, "")
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if s.Interval() != tt.want {
			t.Errorf("%s: interval %s, want %s", tt.expr, s.Interval(), tt.want)
		}
	}
	s, _ := ParseSchedule("@every 30s", "")
	if err := s.Check(DefaultMinInterval); err == nil || !strings.Contains(err.Error(), "minimum interval is 1m0s") {
		t.Errorf("30s under a 1m minimum: %v", err)
	}
	s, _ = ParseSchedule("*/2 * * * *", "")
	if err := s.Check(5 * time.Minute); err == nil {
		t.Error("a 2-minute cron passed a 5-minute minimum")
	}
	if err := s.Check(2 * time.Minute); err != nil {
		t.Errorf("a 2-minute cron failed a 2-minute minimum: %v", err)
	}
}

func TestNextEverySpreadsAndKeepsTheInterval(t *testing.T) {
	s, _ := ParseSchedule("@every 1m", "")
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Each monitor's runs are exactly one interval apart, at an offset of
	// its own within the minute.
	seconds := map[int]int{}
	for i := 0; i < 6000; i++ {
		id := fmt.Sprintf("mon_%d", i)
		first := s.Next(start, id)
		if !first.After(start) || first.Sub(start) > time.Minute {
			t.Fatalf("%s: first run %s not within a minute after %s", id, first, start)
		}
		if second := s.Next(first, id); second.Sub(first) != time.Minute {
			t.Fatalf("%s: runs %s then %s", id, first, second)
		}
		if again := s.Next(start, id); !again.Equal(first) {
			t.Fatalf("%s: not deterministic: %s then %s", id, first, again)
		}
		seconds[first.Second()]++
	}
	// 6,000 monitors over 60 seconds: about 100 a second, none crowded.
	for sec := 0; sec < 60; sec++ {
		if n := seconds[sec]; n < 50 || n > 150 {
			t.Errorf("second %d has %d of 6000 first runs; want about 100", sec, n)
		}
	}
}

func TestNextCron(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		expr, tz string
		after    time.Time
		// want: the named time the run belongs to, in the zone; the run is
		// within min(interval, MaxSpread) after it.
		want time.Time
	}{
		{"0 9 * * *", "Europe/Paris", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 0, 0, 0, paris)},
		{"0 9 * * *", "", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		// Across the spring DST change in Paris (29 March 2026).
		{"30 1 * * *", "Europe/Paris", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 30, 0, 0, paris)},
		{"0 9 * * 1", "", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.expr, tt.tz)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			id := fmt.Sprintf("mon_%d", i)
			got := s.Next(tt.after, id)
			if got.Before(tt.want) || got.Sub(tt.want) >= min(s.Interval(), MaxSpread) {
				t.Errorf("%s in %q after %s (%s): %s, want within the spread after %s", tt.expr, tt.tz, tt.after, id, got, tt.want)
			}
		}
	}
}

func TestNextCatchUpIsOneRun(t *testing.T) {
	// A node down from 10:00 to 13:30: the monitor due at 10:00 is claimed
	// at 13:30 and runs once; its next run is the next one after 13:30,
	// not one per missed tick.
	s, _ := ParseSchedule("*/15 * * * *", "")
	id := "mon_x"
	due := s.Next(time.Date(2026, 3, 1, 9, 50, 0, 0, time.UTC), id)
	claimed := time.Date(2026, 3, 1, 13, 30, 0, 0, time.UTC)
	next := s.Next(claimed, id)
	if !next.After(claimed) || next.Sub(claimed) > 15*time.Minute {
		t.Errorf("due %s, claimed %s: next %s, want within 15m after the claim", due, claimed, next)
	}
}

func TestFractionIsEven(t *testing.T) {
	buckets := make([]int, 10)
	for i := 0; i < 10000; i++ {
		x := fraction(fmt.Sprintf("mon_%08d", i))
		if x < 0 || x >= 1 {
			t.Fatalf("fraction %v out of [0,1)", x)
		}
		buckets[int(x*10)]++
	}
	for i, n := range buckets {
		if n < 800 || n > 1200 {
			t.Errorf("bucket %d has %d of 10000", i, n)
		}
	}
}

// TestNextIsStoredExactly: run times are whole milliseconds, so that a run
// claimed between its millisecond (as stored) and its exact time does not
// come due again at once (a double run, seen as a skipped tick, before
// this was so).
func TestNextIsStoredExactly(t *testing.T) {
	for _, expr := range []string{"@every 1m", "* * * * *", "@every 1m0.0005s"} {
		s, err := ParseSchedule(expr, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			id := fmt.Sprintf("mon_%d", i)
			due := s.Next(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), id)
			if !due.Equal(due.Truncate(time.Millisecond)) {
				t.Fatalf("%s %s: %s is not a whole millisecond", expr, id, due)
			}
			// Claimed 0.5 ms after the stored due time.
			claimed := due.Add(500 * time.Microsecond)
			next := s.Next(claimed, id)
			if next.Sub(due) < 59*time.Second || !next.Equal(next.Truncate(time.Millisecond)) {
				t.Fatalf("%s %s: due %s, claimed %s, next %s", expr, id, due, claimed, next)
			}
		}
	}
}
