package db_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// blackhole is a TCP proxy to Postgres that can make the auth listener's
// connection go silent the way a half-open TCP connection does: nothing it
// sends arrives, nothing comes back, and no side is told.
type blackhole struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*holeConn
	closed bool
}

type holeConn struct {
	client, server net.Conn
	listener       atomic.Bool // it sent LISTEN on the auth channel
	silent         atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target}
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) accept() {
	for {
		client, err := b.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", b.target)
		if err != nil {
			client.Close()
			continue
		}
		hc := &holeConn{client: client, server: server}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		b.conns = append(b.conns, hc)
		b.mu.Unlock()
		go hc.pipe(client, server, true)
		go hc.pipe(server, client, false)
	}
}

// pipe copies src to dst until either ends; once silent it reads and drops
// everything (a sender's writes still succeed, as into a dead link).
func (hc *holeConn) pipe(src, dst net.Conn, fromClient bool) {
	listen := []byte("LISTEN " + db.AuthChannel)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && bytes.Contains(buf[:n], listen) {
				hc.listener.Store(true)
			}
			if !hc.silent.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if err != io.EOF || !hc.silent.Load() {
				dst.Close()
			}
			return
		}
	}
}

// silenceListener makes the connections that LISTENed so far silent; later
// ones (a reconnect) pass.
func (b *blackhole) silenceListener() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, hc := range b.conns {
		if hc.listener.Load() {
			hc.silent.Store(true)
			n++
		}
	}
	return n
}

func (b *blackhole) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, hc := range b.conns {
		hc.client.Close()
		hc.server.Close()
	}
}

// viaBlackhole is the store's database URL through a blackhole proxy.
func viaBlackhole(t *testing.T, dbURL string) (*blackhole, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	b := newBlackhole(t, u.Host)
	u.Host = b.ln.Addr().String()
	return b, u.String()
}

// A listener whose connection dies without a word (a half-open TCP
// connection: no error, no EOF, WaitForNotification blocks for ever) is
// found out by its heartbeat: the cache stops answering from memory, and a
// change it could not hear of is seen by the next lookup.
func TestAuthCache_silentListenerFoundOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	hole, proxied := viaBlackhole(t, f.url)
	s, err := db.Open(ctx, proxied)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// Beats often, but with a generous bound for one to come back: a slow
	// machine must not end the kept answers this test relies on first.
	db.SetAuthHeartbeat(s, 200*time.Millisecond, 5*time.Second)
	listening(t, s)
	settled(t, s, f.url)
	at := f.t0.Add(time.Second)
	role := func() string {
		t.Helper()
		_, u, err := s.SessionUser(ctx, f.token, at)
		if err != nil {
			t.Fatal(err)
		}
		return u.Role
	}
	role()
	quietly(t, f.url, `UPDATE users SET role = 'helpdesk'`)
	if got := role(); got != "operator" {
		t.Fatalf("role %q, want the kept operator (the cache is not in use)", got)
	}
	listens := db.AuthListens(s)
	if n := hole.silenceListener(); n != 1 {
		t.Fatalf("%d listening connections through the proxy, want 1", n)
	}
	// A change announced now is lost on the dead link.
	if err := f.s.SetUserRole(ctx, f.user.ID, "viewer"); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the silent listener is found out", func() bool { return !s.AuthCacheLive() || db.AuthListens(s) > listens })
	if got := role(); got != "viewer" {
		t.Errorf("after the listener went silent: role %q, want viewer from Postgres", got)
	}
	// It connects again (past the proxy's dead link) and keeps again.
	dbtest.Eventually(t, "the listener is back", func() bool { return db.AuthListens(s) > listens && s.AuthCacheLive() })
	role()
	quietly(t, f.url, `UPDATE users SET role = 'admin'`)
	if got := role(); got != "viewer" {
		t.Errorf("back: role %q, want the kept viewer", got)
	}
}
