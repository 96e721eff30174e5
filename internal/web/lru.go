package web

import "sync"

// byteLRU is a map bounded by the bytes its entries hold, as their owner
// counts them: past its limit the least recently used entries go. Safe for
// concurrent use; the zero value keeps nothing until limit is set.
type byteLRU[K comparable, V any] struct {
	mu    sync.Mutex
	limit int64 // bytes; set before use
	used  int64
	m     map[K]*lruNode[K, V]
	// root is the ring's sentinel: root.next is the most recently used,
	// root.prev the least.
	root lruNode[K, V]
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	size       int64
	prev, next *lruNode[K, V]
}

// lruEntryOverhead is what an entry costs besides the bytes its owner
// counts (node, map slot): a cache of tiny entries is bounded too.
const lruEntryOverhead = 96

func (c *byteLRU[K, V]) unlink(n *lruNode[K, V]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (c *byteLRU[K, V]) pushFront(n *lruNode[K, V]) {
	if c.root.next == nil {
		c.root.next, c.root.prev = &c.root, &c.root
	}
	n.prev, n.next = &c.root, c.root.next
	c.root.next.prev = n
	c.root.next = n
}

// get is k's value, now the most recently used.
func (c *byteLRU[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.unlink(n)
	c.pushFront(n)
	return n.val, true
}

// put keeps v under k, counted as size bytes, dropping the least recently
// used entries until all fit; a value larger than the whole limit is not
// kept (and k's old value goes).
func (c *byteLRU[K, V]) put(k K, v V, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.drop(old)
	}
	size += lruEntryOverhead
	if size > c.limit {
		return
	}
	for c.used+size > c.limit {
		c.drop(c.root.prev)
	}
	if c.m == nil {
		c.m = make(map[K]*lruNode[K, V])
	}
	n := &lruNode[K, V]{key: k, val: v, size: size}
	c.m[k] = n
	c.pushFront(n)
	c.used += size
}

// remove drops k.
func (c *byteLRU[K, V]) remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.m[k]; ok {
		c.drop(n)
	}
}

func (c *byteLRU[K, V]) drop(n *lruNode[K, V]) {
	c.unlink(n)
	delete(c.m, n.key)
	c.used -= n.size
}

// stats are the entries kept and the bytes they are counted as.
func (c *byteLRU[K, V]) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.used
}
