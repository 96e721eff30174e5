package web

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/a-h/templ"
	templruntime "github.com/a-h/templ/runtime"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"
)

// renderBuf collects a rendered page: the text rendered now and, between
// it, fragments rendered (and compressed) before (see fragment). Pooled.
type renderBuf struct {
	text  []byte
	marks []renderMark
	out   []byte
}

// renderMark puts frag at offset at of text.
type renderMark struct {
	at   int
	frag *deflated
}

// renderSeg is a piece of the page in order: text or a fragment.
type renderSeg struct {
	text []byte
	frag *deflated
}

func (b *renderBuf) Write(p []byte) (int, error) { b.text = append(b.text, p...); return len(p), nil }

func (b *renderBuf) WriteString(s string) (int, error) {
	b.text = append(b.text, s...)
	return len(s), nil
}

func (b *renderBuf) splice(d *deflated) {
	b.marks = append(b.marks, renderMark{at: len(b.text), frag: d})
}

func (b *renderBuf) len() int {
	n := len(b.text)
	for _, m := range b.marks {
		n += len(m.frag.raw)
	}
	return n
}

func (b *renderBuf) segments(dst []renderSeg) []renderSeg {
	prev := 0
	for _, m := range b.marks {
		dst = append(dst, renderSeg{text: b.text[prev:m.at]}, renderSeg{frag: m.frag})
		prev = m.at
	}
	return append(dst, renderSeg{text: b.text[prev:]})
}

// flat is the whole page as text.
func (b *renderBuf) flat() []byte {
	if len(b.marks) == 0 {
		return b.text
	}
	b.out = b.out[:0]
	prev := 0
	for _, m := range b.marks {
		b.out = append(append(b.out, b.text[prev:m.at]...), m.frag.raw...)
		prev = m.at
	}
	b.out = append(b.out, b.text[prev:]...)
	return b.out
}

var renderBufs = sync.Pool{New: func() any { return &renderBuf{text: make([]byte, 0, 64<<10)} }}

func getRenderBuf() *renderBuf { return renderBufs.Get().(*renderBuf) }

func putRenderBuf(b *renderBuf) {
	if cap(b.text) > 1<<20 || cap(b.out) > 1<<20 {
		return // an outsized page: let it go
	}
	b.text, b.marks, b.out = b.text[:0], b.marks[:0], b.out[:0]
	clear(b.marks[:cap(b.marks)])
	renderBufs.Put(b)
}

// render writes a component with a status: into a buffer first, so a failed
// render never leaves half a page. With the compression middleware in
// place the page leaves gzipped, its precompressed fragments copied as
// they are.
func render(c echo.Context, status int, comp templ.Component) error {
	rb := getRenderBuf()
	defer putRenderBuf(rb)
	if err := comp.Render(c.Request().Context(), rb); err != nil {
		return err
	}
	res := c.Response()
	h := res.Header()
	h.Add("Vary", "HX-Request")
	h.Set("Cache-Control", "no-store")
	if gw, ok := res.Writer.(*gzipWriter); ok && gw.mode == 0 && rb.len() >= gzipMinLength {
		var segs [8]renderSeg
		rb.out = gzipSegments(rb.out[:0], rb.segments(segs[:0]))
		h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		h.Set(echo.HeaderContentEncoding, "gzip")
		res.WriteHeader(status)
		_, err := res.Write(rb.out)
		return err
	}
	return c.HTMLBlob(status, rb.flat())
}

// fragment is a component that writes d: spliced in compressed when
// rendered by render, as text anywhere else.
func fragment(d *deflated) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if tb, ok := w.(*templruntime.Buffer); ok {
			if rb, ok := tb.Underlying.(*renderBuf); ok {
				if err := tb.Flush(); err != nil {
					return err
				}
				rb.splice(d)
				return nil
			}
		}
		if rb, ok := w.(*renderBuf); ok {
			rb.splice(d)
			return nil
		}
		_, err := w.Write(d.raw)
		return err
	})
}

// fragmentCache keeps rendered fragments by a key naming everything they
// are made of (for the fleet list: the cached machine list it was rendered
// from, the query and the row flags), so identical requests within the
// list cache's TTL render and compress it once. It is bounded by the bytes
// the fragments hold (the least recently used go first), and holds nothing
// but them and their keys: a key names a list weakly (see fleetFragKey).
type fragmentCache[K comparable] struct {
	frags byteLRU[K, *deflated]
	// stored, when set, is told of each key stored (the fleet cache drops
	// a key once its list is collected).
	stored func(K)
	// rendering coalesces the requests that miss the same key at once (a
	// new list under load): one renders, the others wait for it.
	rendering singleflight.Group
}

// maxFragmentBytes bounds a fragmentCache: the text and compressed bytes
// of its fragments.
const maxFragmentBytes = 16 << 20

func newFragmentCache[K comparable](limit int64, stored func(K)) *fragmentCache[K] {
	fc := &fragmentCache[K]{stored: stored}
	fc.frags.limit = limit
	return fc
}

// get returns the fragment of key, rendering the component mk makes when
// missing.
func (fc *fragmentCache[K]) get(ctx context.Context, key K, mk func() templ.Component) (*deflated, error) {
	if d, ok := fc.frags.get(key); ok {
		return d, nil
	}
	v, err, _ := fc.rendering.Do(fmt.Sprint(key), func() (any, error) {
		rb := getRenderBuf()
		defer putRenderBuf(rb)
		if err := mk().Render(ctx, rb); err != nil {
			return nil, err
		}
		// Compressed through the segment cache: a list fetched again
		// whose rows did not change renders to the same text.
		raw := append([]byte(nil), rb.flat()...)
		d := &deflated{raw: raw, comp: segmentCodes.encode(nil, raw)}
		fc.frags.put(key, d, int64(len(d.raw)+len(d.comp)))
		if fc.stored != nil {
			fc.stored(key)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*deflated), nil
}

// drop forgets key's fragment.
func (fc *fragmentCache[K]) drop(key K) { fc.frags.remove(key) }
