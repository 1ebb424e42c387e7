package webhookkit

import (
	"container/list"
	"sync"
)

// DefaultDedupeSize is how many webhook-ids a Deduper remembers by default.
const DefaultDedupeSize = 10000

// Deduper remembers the webhook-ids of recent deliveries so that a receiver
// can drop the duplicates at-least-once delivery brings (a retry after a lost
// 2xx, a redelivery after a crash: the webhook-id is the same every time).
// It keeps the most recently seen ids up to its size and forgets the least
// recently seen ones first. It is safe for concurrent use; the zero value is
// not usable, make one with NewDeduper.
type Deduper struct {
	mu    sync.Mutex
	size  int
	order *list.List // front: most recently seen; values are ids
	ids   map[string]*list.Element
}

// NewDeduper makes a Deduper remembering up to size ids (DefaultDedupeSize
// when size ≤ 0).
func NewDeduper(size int) *Deduper {
	if size <= 0 {
		size = DefaultDedupeSize
	}
	return &Deduper{size: size, order: list.New(), ids: make(map[string]*list.Element, size)}
}

// Seen records id and reports whether it had been seen already. Check and
// record are one step, so two concurrent deliveries of one id cannot both
// pass. A receiver that then fails to process the delivery should Forget the
// id before answering non-2xx, or the retry would be dropped as a duplicate.
func (d *Deduper) Seen(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ids[id]; ok {
		d.order.MoveToFront(e)
		return true
	}
	d.ids[id] = d.order.PushFront(id)
	if d.order.Len() > d.size {
		oldest := d.order.Back()
		d.order.Remove(oldest)
		delete(d.ids, oldest.Value.(string))
	}
	return false
}

// Forget removes id, so that its next delivery is accepted.
func (d *Deduper) Forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.ids[id]; ok {
		d.order.Remove(e)
		delete(d.ids, id)
	}
}

// Len is how many ids are remembered.
func (d *Deduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}
