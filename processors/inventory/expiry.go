package inventory

import "container/heap"

// expiryQueue is a partition's reservations by expiry time, rebuilt from the
// partition's orders when it is restored (Ready) and fed as orders are
// reserved. An entry is checked against the order when it comes due, so an
// order confirmed or released meanwhile is simply skipped.
type expiryQueue struct{ h expiryHeap }

func (q *expiryQueue) push(id string, at int64) { heap.Push(&q.h, expiryItem{id: id, at: at}) }

// due pops the orders due at now (unix ms).
func (q *expiryQueue) due(now int64) []string {
	var ids []string
	for q.h.Len() > 0 && q.h[0].at <= now {
		ids = append(ids, heap.Pop(&q.h).(expiryItem).id)
	}
	return ids
}

type expiryItem struct {
	id string
	at int64
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
