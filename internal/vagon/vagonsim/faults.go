package vagonsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"
)

// AnyEndpoint, as the endpoint of Enqueue, matches every request.
const AnyEndpoint = "*"

// Fault is a canned response the simulator sends instead of serving a
// request. Build one with RateLimited, GatewayError or APIError, or by hand.
type Fault struct {
	Status int
	Header http.Header
	Body   []byte
}

// RateLimited is a 429 answer with Retry-After in whole seconds (rounded up)
// and a JSON body carrying client_code 429.
func RateLimited(retryAfter time.Duration) Fault {
	secs := int(math.Ceil(retryAfter.Seconds()))
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("Content-Type", "application/json; charset=utf-8")
	return Fault{Status: http.StatusTooManyRequests, Header: h,
		Body: []byte(`{"client_code":429,"message":"too many requests"}`)}
}

// GatewayError is what a proxy in front of the API sends: status (502, 503,
// 504...) with an HTML page, or with an empty body when html is false.
func GatewayError(status int, html bool) Fault {
	h := http.Header{}
	if !html {
		return Fault{Status: status, Header: h}
	}
	h.Set("Content-Type", "text/html")
	text := http.StatusText(status)
	body := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", status, text, status, text)
	return Fault{Status: status, Header: h, Body: []byte(body)}
}

// APIError is a JSON error answer with clientCode, carried by the HTTP status
// HTTPStatus(clientCode); use it to produce codes the simulator never does on
// its own, such as 4710.
func APIError(clientCode int, message string) Fault {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	b, _ := json.Marshal(map[string]any{"client_code": clientCode, "message": message})
	return Fault{Status: HTTPStatus(clientCode), Header: h, Body: b}
}

// faultConfig holds the random fault knobs.
type faultConfig struct {
	latencyMin, latencyMax time.Duration
	errorRate              float64
	malformedRate          float64
	slowChunk              int
	slowDelay              time.Duration
}

// Enqueue makes the next n requests to endpoint (a name of Endpoints, or
// AnyEndpoint) get f, before authentication. Queues for a named endpoint are
// served before the AnyEndpoint queue.
func (s *Sim) Enqueue(endpoint string, n int, f Fault) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for range n {
		s.forced[endpoint] = append(s.forced[endpoint], f)
	}
}

// SetLatency delays every request by a random duration in [lo, hi] of real
// time (lo == hi: fixed). Zero turns it off.
func (s *Sim) SetLatency(lo, hi time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.latencyMin, s.faults.latencyMax = lo, max(lo, hi)
}

// SetErrorRate makes the given fraction (0..1) of requests fail with a
// random 502, 503 or 504, half of them with an HTML page, half with an
// empty body.
func (s *Sim) SetErrorRate(rate float64) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.errorRate = rate
}

// SetMalformedRate makes the given fraction (0..1) of JSON answers arrive
// cut short, so they no longer parse.
func (s *Sim) SetMalformedRate(rate float64) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.malformedRate = rate
}

// SetSlowBody writes JSON answers in chunks of chunk bytes with delay between
// them (real time). chunk <= 0 turns it off.
func (s *Sim) SetSlowBody(chunk int, delay time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults.slowChunk, s.faults.slowDelay = chunk, delay
}

// ClearFaults turns every fault knob off and empties the forced queues.
func (s *Sim) ClearFaults() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = faultConfig{}
	s.forced = map[string][]Fault{}
}

// applyLatency sleeps the configured latency; false when the request was
// cancelled meanwhile.
func (s *Sim) applyLatency(r *http.Request) bool {
	s.fmu.Lock()
	d := s.faults.latencyMin
	if span := s.faults.latencyMax - s.faults.latencyMin; span > 0 {
		d += time.Duration(s.frng.Int64N(int64(span) + 1))
	}
	s.fmu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// nextFault pops a forced fault for endpoint or draws a random gateway error.
func (s *Sim) nextFault(endpoint string) (Fault, bool) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for _, k := range []string{endpoint, AnyEndpoint} {
		if q := s.forced[k]; len(q) > 0 {
			f := q[0]
			if len(q) == 1 {
				delete(s.forced, k)
			} else {
				s.forced[k] = q[1:]
			}
			return f, true
		}
	}
	if s.faults.errorRate > 0 && s.frng.Float64() < s.faults.errorRate {
		status := []int{502, 503, 504}[s.frng.IntN(3)]
		return GatewayError(status, s.frng.IntN(2) == 0), true
	}
	return Fault{}, false
}

// writeFault writes a fault as it is.
func (s *Sim) writeFault(w http.ResponseWriter, f Fault) {
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(f.Status)
	_, _ = w.Write(f.Body)
}

// maybeMalform cuts a JSON body short at the configured rate.
func (s *Sim) maybeMalform(b []byte) []byte {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.faults.malformedRate <= 0 || s.frng.Float64() >= s.faults.malformedRate {
		return b
	}
	return append(b[:len(b)/2:len(b)/2], `,"trunc`...)
}

func (s *Sim) slowBody() (int, time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults.slowChunk, s.faults.slowDelay
}

// count records a request to endpoint before anything else happens to it.
func (s *Sim) count(endpoint string) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.counts[endpoint]++
	s.total++
}

func (s *Sim) countAuth(endpoint string) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.authCounts[endpoint]++
}

// Count returns how many requests reached endpoint ("POST /machines/{id}/start",
// see Endpoints), refused ones included. Requests to no known endpoint count
// as "unmatched".
func (s *Sim) Count(endpoint string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.counts[endpoint]
}

// Counts returns a copy of every endpoint's request count.
func (s *Sim) Counts() map[string]int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return maps.Clone(s.counts)
}

// Total returns how many requests the simulator received.
func (s *Sim) Total() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.total
}

// AuthCount returns how many requests to endpoint passed authentication.
func (s *Sim) AuthCount(endpoint string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.authCounts[endpoint]
}

// AuthCounts returns a copy of the authenticated request counts.
func (s *Sim) AuthCounts() map[string]int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return maps.Clone(s.authCounts)
}

// ResetCounts sets every counter back to zero.
func (s *Sim) ResetCounts() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.counts = map[string]int{}
	s.authCounts = map[string]int{}
	s.total = 0
}
