package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

// A page made of text compressed per request and fragments compressed
// before decodes, as one gzip stream, to exactly the text they make up.
func TestGzipSegments_decode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = "<td class=\"x\">abc</td>\n"[rng.IntN(22)]
		}
		return b
	}
	cases := []struct {
		name string
		segs []renderSeg
	}{
		{"text only", []renderSeg{{text: text(5000)}}},
		{"empty", nil},
		{"fragment only", []renderSeg{{frag: newDeflated(text(40000))}}},
		{"text fragment text", []renderSeg{{text: text(3000)}, {frag: newDeflated(text(28000))}, {text: text(900)}}},
		{"two fragments, empty text between", []renderSeg{{frag: newDeflated(text(10))}, {text: nil}, {frag: newDeflated(text(70000))}, {text: []byte("</html>")}}},
		{"empty fragment", []renderSeg{{text: text(10)}, {frag: newDeflated(nil)}, {text: text(10)}}},
		{"stored text over one block", []renderSeg{{text: text(storedMax)}, {frag: newDeflated(text(100))}, {text: text(storedMax - 1)}}},
		{"same text twice (the second from the segment cache)", []renderSeg{{text: bytes.Repeat([]byte("<p>again</p>"), 500)}, {frag: newDeflated(text(5))}, {text: bytes.Repeat([]byte("<p>again</p>"), 500)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []byte
			for _, s := range tc.segs {
				if s.frag != nil {
					want = append(want, s.frag.raw...)
				} else {
					want = append(want, s.text...)
				}
			}
			zr, err := gzip.NewReader(bytes.NewReader(gzipSegments(nil, tc.segs)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr) // checks the CRC and length too
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes, want %d (equal: false)", len(got), len(want))
			}
		})
	}
}

// render sends a page with a fragment gzipped when the client accepts it,
// as text otherwise, and the text is the same either way.
func TestRender_fragmentSpliced(t *testing.T) {
	frag := newDeflated([]byte(strings.Repeat("<tr><td>row</td></tr>", 400)))
	page := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, "<html><body>"+strings.Repeat("x", 2000)); err != nil {
			return err
		}
		if err := fragment(frag).Render(ctx, w); err != nil {
			return err
		}
		_, err := io.WriteString(w, "</body></html>")
		return err
	})
	want := "<html><body>" + strings.Repeat("x", 2000) + string(frag.raw) + "</body></html>"
	e := echo.New()
	s := &Server{}
	for _, enc := range []string{"gzip, deflate, br, zstd", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		h := s.mwGzip(func(c echo.Context) error { return render(c, http.StatusTeapot, page) })
		if err := h(c); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusTeapot {
			t.Errorf("%q: status %d", enc, rec.Code)
		}
		body := rec.Body.Bytes()
		if enc != "" {
			if rec.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("%q: Content-Encoding %q", enc, rec.Header().Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("no Accept-Encoding, yet Content-Encoding %q", rec.Header().Get("Content-Encoding"))
		}
		if string(body) != want {
			t.Errorf("%q: body differs from the page (%d bytes, want %d)", enc, len(body), len(want))
		}
		if ct := rec.Header().Get("Content-Type"); ct != echo.MIMETextHTMLCharsetUTF8 {
			t.Errorf("%q: Content-Type %q", enc, ct)
		}
	}
}

// Accept-Encoding is read as a list with weights.
func TestAcceptsGzip(t *testing.T) {
	for enc, want := range map[string]bool{
		"gzip": true, "gzip, deflate, br, zstd": true, "br;q=1.0, gzip;q=0.8": true, "GZIP": true,
		"": false, "br": false, "gzip;q=0": false, "identity": false, "*": true, "xgzip": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", enc)
		if got := acceptsGzip(r); got != want {
			t.Errorf("%q: %v, want %v", enc, got, want)
		}
	}
}

// Short answers leave uncompressed, long ones written piecemeal compressed,
// and a streamed one is compressed from its first flush.
func TestGzipWriter(t *testing.T) {
	e := echo.New()
	s := &Server{}
	run := func(h echo.HandlerFunc) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		if err := s.mwGzip(h)(e.NewContext(req, rec)); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	short := run(func(c echo.Context) error { return c.String(http.StatusCreated, "hello") })
	if short.Code != http.StatusCreated || short.Header().Get("Content-Encoding") != "" || short.Body.String() != "hello" {
		t.Errorf("short: %d %q %q", short.Code, short.Header().Get("Content-Encoding"), short.Body.String())
	}
	long := strings.Repeat("abcdefgh", 1000)
	rec := run(func(c echo.Context) error {
		c.Response().WriteHeader(http.StatusAccepted)
		for i := 0; i < len(long); i += 100 {
			if _, err := c.Response().Write([]byte(long[i : i+100])); err != nil {
				return err
			}
		}
		return nil
	})
	if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("long: %d %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || string(got) != long {
		t.Errorf("long: decoded %d bytes (%v)", len(got), err)
	}
	flushed := run(func(c echo.Context) error {
		_, _ = c.Response().Write([]byte("first"))
		c.Response().Flush()
		return nil
	})
	if flushed.Header().Get("Content-Encoding") != "gzip" || !flushed.Flushed {
		t.Errorf("flushed: %q flushed=%v", flushed.Header().Get("Content-Encoding"), flushed.Flushed)
	}
	none := run(func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	if none.Code != http.StatusNoContent || none.Header().Get("Content-Encoding") != "" {
		t.Errorf("no body: %d %q", none.Code, none.Header().Get("Content-Encoding"))
	}
}

// Stored blocks carry text of any length, split at 65535 bytes.
func TestAppendStored(t *testing.T) {
	for _, n := range []int{1, 0xffff, 0xffff + 1, 200000} {
		p := bytes.Repeat([]byte{'a'}, n)
		zr, err := gzip.NewReader(bytes.NewReader(gzipSegments(nil, []renderSeg{{frag: &deflated{raw: p, comp: appendStored(nil, p)}}})))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("%d bytes: decoded %d, %v", n, len(got), err)
		}
	}
}

// The segment cache answers a text by its content, never another text's
// encoding, whatever the hash says.
func TestSegmentCache(t *testing.T) {
	c := newSegmentCache(1 << 20)
	a := bytes.Repeat([]byte("<td>a</td>"), 300)
	b := bytes.Repeat([]byte("<td>b</td>"), 300)
	first := c.encode(nil, a)
	if again := c.encode(nil, a); !bytes.Equal(again, first) {
		t.Error("the same text encodes differently the second time")
	}
	// A forged entry under b's hash holding a's encoding is not used for b.
	c.segs.put(maphash.Bytes(c.seed, b), &deflated{raw: a, comp: first}, int64(len(a)+len(first)))
	zr, _ := gzip.NewReader(bytes.NewReader(gzipSegments(nil, []renderSeg{{text: b}})))
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, b) {
		t.Errorf("b decoded as %.20q…, %v", got, err)
	}
}

// A row from the row cache is the row FleetRowView renders, and a row that
// differs in any field is not answered with another's rendering.
func TestRowCache(t *testing.T) {
	ctx := context.Background()
	v := benchFleet()
	var rc rowCache
	render := func(c templ.Component) string {
		var b strings.Builder
		if err := c.Render(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for i, r := range v.Machines[:10] {
		want := render(views.FleetRowView(r))
		for range 2 { // rendered, then kept
			if got := render(rc.get(ctx, r)); got != want {
				t.Fatalf("row %d: cached rendering differs", i)
			}
		}
	}
	r := v.Machines[0]
	for name, change := range map[string]func(*views.FleetRow){
		"name":       func(r *views.FleetRow) { r.Name += "x" },
		"selectable": func(r *views.FleetRow) { r.Selectable = !r.Selectable },
		"poll":       func(r *views.FleetRow) { r.Poll++ },
		"last session, same pointer target changed": func(r *views.FleetRow) {
			later := r.LastSessionAt.Add(time.Hour)
			r.LastSessionAt = &later
		},
		"never used": func(r *views.FleetRow) { r.LastSessionAt = nil },
	} {
		c := r
		change(&c)
		if got, want := render(rc.get(ctx, c)), render(views.FleetRowView(c)); got != want {
			t.Errorf("%s: the cache answered another row's rendering", name)
		}
	}
	whole := v
	whole.RowHTML = nil
	cached := v
	for _, r := range v.Machines {
		cached.RowHTML = append(cached.RowHTML, rc.get(ctx, r))
	}
	p := views.Page{}
	if render(views.FleetResults(p, cached)) != render(views.FleetResults(p, whole)) {
		t.Error("results with cached rows differ from results rendered whole")
	}
}
