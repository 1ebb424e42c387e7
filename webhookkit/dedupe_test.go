package webhookkit_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/errandhq/errand/webhookkit"
)

func TestDeduper(t *testing.T) {
	for _, c := range []struct {
		name  string
		size  int
		steps []string // "+id": Seen must answer false; "=id": true; "-id": Forget
		len   int
	}{
		{"first delivery passes, the retry is dropped", 4, []string{"+a", "=a", "=a"}, 1},
		{"distinct ids all pass", 4, []string{"+a", "+b", "+c"}, 3},
		{"oldest forgotten past the size", 2, []string{"+a", "+b", "+c", "+a"}, 2},
		{"a seen id is refreshed", 2, []string{"+a", "+b", "=a", "+c", "=a", "+b"}, 2},
		{"forget lets the retry through", 4, []string{"+a", "-a", "+a", "=a"}, 1},
		{"forget of an unknown id", 4, []string{"-z", "+z"}, 1},
		{"default size", 0, []string{"+a", "=a"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := webhookkit.NewDeduper(c.size)
			for i, s := range c.steps {
				op, id := s[0], s[1:]
				switch op {
				case '-':
					d.Forget(id)
				default:
					if got, want := d.Seen(id), op == '='; got != want {
						t.Fatalf("step %d %s: Seen = %v", i, s, got)
					}
				}
			}
			if d.Len() != c.len {
				t.Errorf("Len %d, want %d", d.Len(), c.len)
			}
		})
	}
}

// TestDeduperConcurrent: of many concurrent deliveries of one id exactly one
// passes (run with -race).
func TestDeduperConcurrent(t *testing.T) {
	d := webhookkit.NewDeduper(100)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if !d.Seen("msg_" + strconv.Itoa(i%50)) {
					passed.Add(1)
				}
				d.Seen("other_" + strconv.Itoa(g))
			}
		}()
	}
	wg.Wait()
	if n := passed.Load(); n != 50 {
		t.Errorf("%d deliveries passed, want 50", n)
	}
	if d.Len() > 100 {
		t.Errorf("Len %d above the size", d.Len())
	}
}
