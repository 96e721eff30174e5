package vagonsim

import (
	"crypto/hmac"
	"net/http"
	"strconv"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Authentication limits, as the real API applies them.
const (
	// MaxClockSkew is how far a request's timestamp may be from the
	// simulator's clock, either way.
	MaxClockSkew = 5 * time.Minute
	// nonceTTL is how long a used nonce is remembered: a request replayed
	// later carries a timestamp outside the skew window anyway.
	nonceTTL = 2 * MaxClockSkew
)

type nonceEntry struct {
	nonce string
	seen  time.Time
}

// authenticate checks the Authorization header against the key and secret,
// the clock window and the nonces already used; nil means accepted.
func (s *Sim) authenticate(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errf(401, "missing Authorization header")
	}
	key, sig, nonce, ts, ok := vagon.ParseAuthorization(h)
	if !ok {
		return errf(401, "malformed Authorization header: want HMAC key:signature:nonce:timestamp")
	}
	if !hmac.Equal([]byte(key), []byte(s.key)) {
		return errf(401, "unknown API key")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errf(401, "timestamp must be milliseconds since the Unix epoch")
	}
	now := s.clock()
	if d := now.Sub(time.UnixMilli(ms)); d > MaxClockSkew || d < -MaxClockSkew {
		return errf(401, "timestamp outside the allowed window of 5 minutes")
	}
	want := vagon.Sign(s.secret, key, r.Method, r.URL.EscapedPath(), ts, nonce, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errf(401, "invalid signature")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneNonces(now)
	if _, used := s.nonces[nonce]; used {
		return errf(401, "nonce already used")
	}
	s.nonces[nonce] = now
	s.nonceFIFO = append(s.nonceFIFO, nonceEntry{nonce: nonce, seen: now})
	return nil
}

// pruneNonces forgets nonces older than nonceTTL, so memory stays bounded by
// the request rate over that window. The caller holds s.mu.
func (s *Sim) pruneNonces(now time.Time) {
	i := 0
	for ; i < len(s.nonceFIFO); i++ {
		e := s.nonceFIFO[i]
		if now.Sub(e.seen) < nonceTTL {
			break
		}
		delete(s.nonces, e.nonce)
	}
	// Reslicing is enough: the next append that outgrows the array copies
	// only the live entries.
	s.nonceFIFO = s.nonceFIFO[i:]
}

// RememberedNonces reports how many nonces the simulator currently keeps.
func (s *Sim) RememberedNonces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneNonces(s.clock())
	return len(s.nonces)
}
