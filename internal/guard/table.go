package guard

import "container/list"

// table is a map holding at most max entries, ordered by last update: put
// moves an entry to the back, so the front is the entry updated longest
// ago. It is evicted first when the table is full, and expiry sweeps from
// the front. Not safe for concurrent use; Guard holds its mutex.
type table[K comparable, V any] struct {
	max   int
	m     map[K]*list.Element
	order list.List // of *item[K, V], oldest first
	// onRemove, if set, is called for every entry leaving the table
	// (deleted, evicted or expired), but not for replaced values.
	onRemove func(K, V)
}

type item[K comparable, V any] struct {
	key K
	val V
}

func newTable[K comparable, V any](max int) *table[K, V] {
	return &table[K, V]{max: max, m: map[K]*list.Element{}}
}

func (t *table[K, V]) len() int { return len(t.m) }

func (t *table[K, V]) get(k K) (V, bool) {
	if e, ok := t.m[k]; ok {
		return e.Value.(*item[K, V]).val, true
	}
	var zero V
	return zero, false
}

// put sets k to v and makes it the newest entry, evicting the oldest
// entry if the table is over its limit. It reports whether k is new.
func (t *table[K, V]) put(k K, v V) bool {
	if e, ok := t.m[k]; ok {
		e.Value.(*item[K, V]).val = v
		t.order.MoveToBack(e)
		return false
	}
	t.m[k] = t.order.PushBack(&item[K, V]{key: k, val: v})
	for len(t.m) > t.max {
		t.remove(t.order.Front())
	}
	return true
}

// del removes k and reports whether it was present.
func (t *table[K, V]) del(k K) bool {
	e, ok := t.m[k]
	if ok {
		t.remove(e)
	}
	return ok
}

// expire removes entries from the front while dead says they are. Tables
// whose entries live a fixed time from their last update are thus swept
// exactly; others are swept approximately, and the rest is left to lazy
// checks on access and to eviction.
func (t *table[K, V]) expire(dead func(V) bool) {
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		if !dead(e.Value.(*item[K, V]).val) {
			return
		}
		t.remove(e)
	}
}

func (t *table[K, V]) remove(e *list.Element) {
	it := t.order.Remove(e).(*item[K, V])
	delete(t.m, it.key)
	if t.onRemove != nil {
		t.onRemove(it.key, it.val)
	}
}
