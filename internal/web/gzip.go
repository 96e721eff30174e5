package web

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"hash/maphash"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Compression (issue 13). Pages are compressed at BestSpeed: on a loopback
// or LAN link the few hundred bytes a higher level saves cost far more CPU
// than they save time (a 35 KB fleet page: ~5.4 KB at level 1, ~4.6 KB at
// level 5, for half the CPU). Writers are pooled; BestSpeed's reset clears
// no tables, so a pooled writer costs nothing to reuse.
const (
	gzipLevel = flate.BestSpeed
	// gzipMinLength: shorter answers leave uncompressed.
	gzipMinLength = 1024
)

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, gzipLevel)
	return w
}}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q = strings.ReplaceAll(strings.TrimSpace(q), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// mwGzip compresses pages and fragments; CSV downloads stream uncompressed
// so each row leaves as soon as it is written. Pages rendered by render go
// out already compressed (see renderBuf.gzip); anything else written to
// the response is compressed on the way when it reaches gzipMinLength.
func (s *Server) mwGzip(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasSuffix(c.Request().URL.Path, ".csv") {
			return next(c)
		}
		res := c.Response()
		res.Header().Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if !acceptsGzip(c.Request()) {
			return next(c)
		}
		gw := &gzipWriter{ResponseWriter: res.Writer}
		res.Writer = gw
		defer func() {
			gw.finish()
			res.Writer = gw.ResponseWriter
		}()
		return next(c)
	}
}

// mwGzipStatic compresses the static assets (long-cached, so a higher level
// pays off).
func (s *Server) mwGzipStatic(next echo.HandlerFunc) echo.HandlerFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: gzipMinLength})(next)
}

// gzipWriter compresses what is written through it once the answer reaches
// gzipMinLength (shorter ones leave as they are), unless the handler set
// Content-Encoding itself (render's precompressed pages), which passes
// through untouched.
type gzipWriter struct {
	http.ResponseWriter
	gz          *gzip.Writer
	buf         []byte
	code        int
	wroteHeader bool
	// mode: 0 undecided (buffering), 1 compressing, 2 passing through.
	mode int
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.mode != 0 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.Header().Del(echo.HeaderContentLength)
	w.wroteHeader, w.code = true, code
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	switch w.mode {
	case 1:
		return w.gz.Write(b)
	case 2:
		return w.ResponseWriter.Write(b)
	}
	if w.Header().Get(echo.HeaderContentEncoding) != "" {
		w.pass()
		return w.ResponseWriter.Write(b)
	}
	if w.Header().Get(echo.HeaderContentType) == "" {
		w.Header().Set(echo.HeaderContentType, http.DetectContentType(b))
	}
	if len(w.buf)+len(b) < gzipMinLength {
		w.buf = append(w.buf, b...)
		return len(b), nil
	}
	w.compress()
	return w.gz.Write(b)
}

// pass sends what is buffered as it is and passes the rest through.
func (w *gzipWriter) pass() {
	w.mode = 2
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(w.code)
	}
	if len(w.buf) > 0 {
		_, _ = w.ResponseWriter.Write(w.buf)
		w.buf = nil
	}
}

// compress starts the gzip stream with what is buffered.
func (w *gzipWriter) compress() {
	w.mode = 1
	h := w.Header()
	h.Set(echo.HeaderContentEncoding, "gzip")
	h.Del(echo.HeaderContentLength)
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(w.code)
	}
	w.gz = gzipPool.Get().(*gzip.Writer)
	w.gz.Reset(w.ResponseWriter)
	if len(w.buf) > 0 {
		_, _ = w.gz.Write(w.buf)
		w.buf = nil
	}
}

// finish ends the answer: the gzip trailer, or what is still buffered.
func (w *gzipWriter) finish() {
	switch w.mode {
	case 0:
		w.pass()
	case 1:
		_ = w.gz.Close()
		w.gz.Reset(nil)
		gzipPool.Put(w.gz)
		w.gz = nil
	}
}

// Flush sends what is written so far (a streamed answer): compression
// starts now, whatever the length.
func (w *gzipWriter) Flush() {
	if w.mode == 0 {
		if w.Header().Get(echo.HeaderContentEncoding) != "" {
			w.pass()
		} else {
			w.compress()
		}
	}
	if w.mode == 1 {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *gzipWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Precompressed pieces. A page is a gzip stream of deflate segments that
// each end on a byte boundary (a sync flush) and use no history from
// before them, so a piece compressed once (a fragment of the machine list,
// see fragmentCache) can be copied between segments compressed per request.

// deflated is raw text and its deflate encoding as one such segment.
type deflated struct {
	raw  []byte
	comp []byte
}

// deflateSegment compresses p as a self-contained, byte-aligned segment
// appended to dst.
func deflateSegment(dst, p []byte) []byte {
	bw := sliceWriter{b: dst}
	fw := flatePool.Get().(*flate.Writer)
	fw.Reset(&bw)
	_, _ = fw.Write(p)
	_ = fw.Flush()
	fw.Reset(nil)
	flatePool.Put(fw)
	return bw.b
}

func newDeflated(raw []byte) *deflated {
	return &deflated{raw: raw, comp: deflateSegment(nil, raw)}
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// gzipHeader is a minimal gzip member header (no name, no time, OS unknown).
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// finalBlock is an empty final stored block: the end of the deflate stream.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// gzipSegments writes the gzip stream of the concatenation of segs into
// dst: each *deflated is copied, each []byte compressed now.
func gzipSegments(dst []byte, segs []renderSeg) []byte {
	dst = append(dst, gzipHeader...)
	var crc uint32
	var size uint32
	for _, s := range segs {
		if s.frag != nil {
			dst = append(dst, s.frag.comp...)
			crc = crc32.Update(crc, crc32.IEEETable, s.frag.raw)
			size += uint32(len(s.frag.raw))
			continue
		}
		if len(s.text) == 0 {
			continue
		}
		dst = segmentCodes.encode(dst, s.text)
		crc = crc32.Update(crc, crc32.IEEETable, s.text)
		size += uint32(len(s.text))
	}
	dst = append(dst, finalBlock...)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, size)
}

// storedMax: text up to this long goes in stored (uncompressed) blocks:
// building Huffman codes for it costs more than the bytes it saves.
const storedMax = 1024

// appendStored appends p as stored deflate blocks (byte-aligned, not final).
func appendStored(dst, p []byte) []byte {
	for len(p) > 0 {
		n := min(len(p), 0xffff)
		dst = append(dst, 0x00, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		dst = append(dst, p[:n]...)
		p = p[n:]
	}
	return dst
}

// segmentCache remembers the deflate encoding of recent text segments by
// their content: the text of a page around its fragments repeats as long
// as the user, the query and the session's CSRF token do (a reload, the
// list's autorefresh), and compressing it again is the largest cost left.
// A hit compares the whole text, not only its hash. It is bounded by the
// bytes it holds (text and encoding), the least recently used going first:
// a count would let a few large pages hold any amount.
type segmentCache struct {
	seed maphash.Seed
	segs byteLRU[uint64, *deflated]
}

// maxSegmentBytes bounds segmentCodes.
const maxSegmentBytes = 8 << 20

func newSegmentCache(limit int64) *segmentCache {
	c := &segmentCache{seed: maphash.MakeSeed()}
	c.segs.limit = limit
	return c
}

var segmentCodes = newSegmentCache(maxSegmentBytes)

// encode appends p's deflate segment to dst.
func (c *segmentCache) encode(dst, p []byte) []byte {
	if len(p) <= storedMax {
		return appendStored(dst, p)
	}
	h := maphash.Bytes(c.seed, p)
	if d, ok := c.segs.get(h); ok && bytes.Equal(d.raw, p) {
		return append(dst, d.comp...)
	}
	start := len(dst)
	dst = deflateSegment(dst, p)
	d := &deflated{raw: bytes.Clone(p), comp: bytes.Clone(dst[start:])}
	c.segs.put(h, d, int64(len(d.raw)+len(d.comp)))
	return dst
}
