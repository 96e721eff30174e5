package web

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// gcUntil collects garbage until cond holds (a cleanup runs on its own
// goroutine after the collection that found its object unreachable).
func gcUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// noisyText is n bytes of page-like text that compresses poorly enough to
// count.
func noisyText(rng *rand.Rand, n int) []byte {
	const alphabet = "<td class=\"x\">abcdefghijklmnopqrstuvwxyz0123456789</td>\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

// A fragment of the fleet list does not keep the machine list it was cut
// from alive: once the fleet cache lets a list go it is collected, and its
// fragments go with it.
func TestFleetFrags_doNotPinLists(t *testing.T) {
	ctx := context.Background()
	fc := newFleetFragCache()
	collected := make(chan struct{})
	func() {
		src := &vagon.MachineList{Machines: make([]vagon.Machine, 5000)}
		runtime.AddCleanup(src, func(ch chan struct{}) { close(ch) }, collected)
		for _, bulk := range []bool{false, true} {
			if _, err := fc.get(ctx, newFleetFragKey(src, "/machines", bulk), func() templ.Component {
				return templ.Raw(fmt.Sprintf("<tr>%d machines</tr>", len(src.Machines)))
			}); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := fc.frags.stats(); n != 2 {
			t.Fatalf("%d fragments kept, want 2", n)
		}
		// Kept while the list lives.
		d, _ := fc.frags.get(newFleetFragKey(src, "/machines", false))
		if d == nil || string(d.raw) != "<tr>5000 machines</tr>" {
			t.Fatalf("fragment %v", d)
		}
	}()
	gcUntil(t, "the machine list is collected", func() bool {
		select {
		case <-collected:
			return true
		default:
			return false
		}
	})
	gcUntil(t, "its fragments are dropped", func() bool { n, _ := fc.frags.stats(); return n == 0 })
	if _, b := fc.frags.stats(); b != 0 {
		t.Errorf("%d bytes still counted", b)
	}
}

// The fragment cache is bounded by the bytes its fragments hold, not by
// their number: large fragments push out the least recently used.
func TestFragmentCache_boundedByBytes(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	const limit = 256 << 10
	fc := newFragmentCache[int](limit, nil)
	texts := make([][]byte, 40)
	for i := range texts {
		texts[i] = noisyText(rng, 32<<10)
		if _, err := fc.get(ctx, i, func() templ.Component { return templ.Raw(string(texts[i])) }); err != nil {
			t.Fatal(err)
		}
		// The first stays the most recently used.
		if d, ok := fc.frags.get(0); !ok || !bytes.Equal(d.raw, texts[0]) {
			t.Fatalf("after %d: the fragment in use was dropped", i)
		}
	}
	n, used := fc.frags.stats()
	var held int64
	for _, node := range fc.frags.m {
		held += int64(len(node.val.raw) + len(node.val.comp))
	}
	if held > limit || used > limit {
		t.Errorf("%d fragments hold %d bytes (counted %d), over the %d limit", n, held, used, limit)
	}
	if n < 2 || n >= len(texts) {
		t.Errorf("%d fragments kept of %d", n, len(texts))
	}
	if _, ok := fc.frags.get(1); ok {
		t.Error("the least recently used fragment is still kept")
	}
	if d, ok := fc.frags.get(len(texts) - 1); !ok || !bytes.Equal(d.raw, texts[len(texts)-1]) {
		t.Error("the newest fragment is not kept")
	}
	// One larger than the whole limit is served, not kept.
	big := noisyText(rng, limit+1)
	d, err := fc.get(ctx, -1, func() templ.Component { return templ.Raw(string(big)) })
	if err != nil || !bytes.Equal(d.raw, big) {
		t.Fatalf("big fragment: %v", err)
	}
	if _, ok := fc.frags.get(-1); ok {
		t.Error("a fragment larger than the limit is kept")
	}
}

// The segment cache is bounded by bytes too, and still answers what it
// keeps.
func TestSegmentCache_boundedByBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const limit = 256 << 10
	c := newSegmentCache(limit)
	var last []byte
	for range 64 {
		last = noisyText(rng, 16<<10)
		c.encode(nil, last)
	}
	n, used := c.segs.stats()
	var held int64
	for _, node := range c.segs.m {
		held += int64(len(node.val.raw) + len(node.val.comp))
	}
	if held > limit || used > limit {
		t.Errorf("%d segments hold %d bytes (counted %d), over the %d limit", n, held, used, limit)
	}
	if n < 2 {
		t.Errorf("%d segments kept", n)
	}
	d, ok := c.segs.get(maphash.Bytes(c.seed, last))
	if !ok || !bytes.Equal(d.raw, last) {
		t.Error("the newest segment is not kept")
	}
}

// The decoded-cookie cache holds no cookie value: a key that outlives the
// request is the value's hash.
func TestCookieCache_keysAreHashes(t *testing.T) {
	var cc cookieCache
	const v = "MTcwMDAwMDAwMHxzZWNyZXQtY29va2llLXZhbHVlfA=="
	cc.put(v, map[any]any{"uid": int64(1)})
	if vals, ok := cc.get(v); !ok || vals["uid"] != int64(1) {
		t.Fatalf("get: %v %v", vals, ok)
	}
	if _, ok := cc.get(v + "x"); ok {
		t.Error("another value found the entry")
	}
	for _, k := range reflect.ValueOf(cc.m).MapKeys() {
		if strings.Contains(fmt.Sprint(k.Interface()), v) {
			t.Errorf("the cookie value is a key of the cache: %v", k)
		}
		if k.Kind() == reflect.String {
			t.Errorf("keyed by a string: %q…", k.String()[:8])
		}
	}
}
