package vagonsim_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// BenchmarkNew_1000x100 seeds the fleet the sessions-sync benchmark uses.
func BenchmarkNew_1000x100(b *testing.B) {
	clk := vagonsim.NewManualClock(t0)
	for b.Loop() {
		vagonsim.New(vagonsim.Options{Machines: 1000, Seed: 1, SessionsPerMachine: 100, Clock: clk.Now, Key: "k", Secret: "s"})
	}
}

// signed builds a signed request for the handler.
func signed(clk *vagonsim.ManualClock, method, path string, n int) *http.Request {
	r := httptest.NewRequest(method, vagonsim.BasePath+path, nil)
	full, _, _ := cutQuery(vagonsim.BasePath + path)
	ts := clk.Now().UnixMilli()
	nonce := "bench-" + strconv.Itoa(n)
	sig := vagon.Sign("s", "k", method, full, strconv.FormatInt(ts, 10), nonce, nil)
	r.Header.Set("Authorization", vagon.AuthorizationHeader("k", sig, nonce, ts))
	return r
}

// BenchmarkServe_listMachines100 serves a 100-machine page of a 1000-machine fleet.
func BenchmarkServe_listMachines100(b *testing.B) {
	clk := vagonsim.NewManualClock(t0)
	sim := vagonsim.New(vagonsim.Options{Machines: 1000, Seed: 1, Clock: clk.Now, Key: "k", Secret: "s"})
	n := 0
	for b.Loop() {
		n++
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, signed(clk, "GET", "/machines?per_page=100&page=3", n))
		if w.Code != 200 {
			b.Fatalf("HTTP %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkServe_sessions serves one machine's 100 sessions.
func BenchmarkServe_sessions(b *testing.B) {
	clk := vagonsim.NewManualClock(t0)
	sim := vagonsim.New(vagonsim.Options{Machines: 1000, Seed: 1, SessionsPerMachine: 100, Clock: clk.Now, Key: "k", Secret: "s"})
	ids := sim.MachineIDs()
	n := 0
	for b.Loop() {
		n++
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, signed(clk, "GET", "/machines/"+ids[n%len(ids)]+"/sessions", n))
		if w.Code != 200 {
			b.Fatalf("HTTP %d %s", w.Code, w.Body)
		}
	}
}
