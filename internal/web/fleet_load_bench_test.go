package web

// Load benchmarks of the fleet page (issue 13), over the whole stack: a
// fresh Postgres database, the simulator over HTTP behind a proxy adding
// benchVagonRTT to every call (the distance to Vagon), the real router on a
// loopback listener, and a signed-in viewer's cookie. `make bench` prints
// their metrics in its table (scripts/benchtable).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// benchVagonRTT is the round trip to Vagon the proxy adds.
const benchVagonRTT = 40 * time.Millisecond

// browserAcceptEncoding is what Chrome sends.
const browserAcceptEncoding = "gzip, deflate, br, zstd"

// benchEnvDuration reads a duration from the environment (the benchtable
// tool and people shorten or lengthen the runs with it).
func benchEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 10s", name, v)
	}
	return d
}

// benchEnvInt reads a positive count from the environment.
func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// fleetBenchApp is a dashboard for the load benchmarks: 200 machines, the
// API behind the delay proxy, the log written as production writes it, and
// one signed-in viewer. It returns the app and that viewer's cookie header.
func fleetBenchApp(b *testing.B, opts ...appOption) (*testApp, string) {
	b.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })
	opts = append([]appOption{
		withSim(func(o *vagonsim.Options) { o.Machines = 200 }),
		withAPIDelay(benchVagonRTT),
		withLogTo(devnull),
	}, opts...)
	app := newTestApp(b, opts...)
	pw := app.CreateUser(b, "viewer@example.com", fleet.RoleViewer)
	c := app.Login(b, "viewer@example.com", pw)
	cookie := sessionName + "=" + c.SessionCookie(b)
	return app, cookie
}

// benchClient is a keep-alive client of the dashboard that, like a
// browser, asks for compressed answers and reads them whole (without
// decompressing: the time is the server's and the wire's).
func benchClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// fetchPage GETs url with the cookie as a browser would and reads the body.
func fetchPage(hc *http.Client, url, cookie string) (int, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Encoding", browserAcceptEncoding)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, int(n), err
}

// percentile is the p-th percentile (0..100) of ds, sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// processCPU is the CPU time this process used so far (user and system):
// server and load generator together, Postgres and the rest of the machine
// not. Per request it says what a request costs whatever else runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetMiss is GET /machines with the machine cache off (every
// request asks Vagon, through the 40 ms proxy), against the same API call
// made directly through the same proxy, alternately in one run: the page's
// p50 over the call's p50 is x-direct. FLEET_MISS_SAMPLES (default 120)
// is the number of each.
func BenchmarkFleetMiss(b *testing.B) {
	app, cookie := fleetBenchApp(b, withListTTL(-1))
	samples := benchEnvInt(b, "FLEET_MISS_SAMPLES", 120)
	hc := benchClient(4)
	page := app.URL + "/machines"
	o := vagon.ListMachinesOptions{Page: 1, PerPage: 20}
	ctx := context.Background()
	// Warm both paths (connections, Postgres's plan cache).
	for range 5 {
		if st, _, err := fetchPage(hc, page, cookie); err != nil || st != http.StatusOK {
			b.Fatalf("warm-up: status %d, %v", st, err)
		}
		if _, err := app.API.ListMachines(ctx, &o); err != nil {
			b.Fatal(err)
		}
	}
	before := app.Sim.Count("GET /machines")
	var pageT, directT []time.Duration
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range samples {
			t0 := time.Now()
			st, n, err := fetchPage(hc, page, cookie)
			pageT = append(pageT, time.Since(t0))
			if err != nil || st != http.StatusOK {
				b.Fatalf("GET /machines: status %d, %v", st, err)
			}
			size = n
			t0 = time.Now()
			if _, err := app.API.ListMachines(ctx, &o); err != nil {
				b.Fatal(err)
			}
			directT = append(directT, time.Since(t0))
		}
	}
	b.StopTimer()
	calls := app.Sim.Count("GET /machines") - before
	if want := 2 * samples * b.N; calls != want {
		b.Fatalf("the simulator saw %d list calls, want %d (one per page, one per direct call): the cache was not cold", calls, want)
	}
	p, d := percentile(pageT, 50), percentile(directT, 50)
	b.ReportMetric(ms(p), "ms-p50-page")
	b.ReportMetric(ms(d), "ms-p50-direct")
	b.ReportMetric(float64(p)/float64(d), "x-direct")
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkFleetCached is GET /machines from the machine cache under load:
// FLEET_CACHED_CLIENTS (default 200) concurrent viewers, each on its own
// keep-alive connection asking again as soon as an answer is read, for
// FLEET_CACHED_DURATION (default 10s). Reports throughput and the p99, and
// the process CPU per request (server and load generator: what a request
// costs, whatever else the machine runs).
func BenchmarkFleetCached(b *testing.B) {
	app, cookie := fleetBenchApp(b)
	clients := benchEnvInt(b, "FLEET_CACHED_CLIENTS", 200)
	dur := benchEnvDuration(b, "FLEET_CACHED_DURATION", 10*time.Second)
	hc := benchClient(clients)
	page := app.URL + "/machines"
	// Warm: the cache, and one connection per client.
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() { _, _, _ = fetchPage(hc, page, cookie) })
	}
	wg.Wait()
	if st, _, err := fetchPage(hc, page, cookie); err != nil || st != http.StatusOK {
		b.Fatalf("warm-up: status %d, %v", st, err)
	}
	b.ResetTimer()
	var total int
	var all []time.Duration
	var elapsed time.Duration
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		lat := make([][]time.Duration, clients)
		errs := make(chan error, clients)
		start := time.Now()
		deadline := start.Add(dur)
		for w := range clients {
			wg.Go(func() {
				l := make([]time.Duration, 0, 1024)
				for {
					t0 := time.Now()
					if !t0.Before(deadline) {
						break
					}
					st, _, err := fetchPage(hc, page, cookie)
					l = append(l, time.Since(t0))
					if err == nil && st != http.StatusOK {
						err = fmt.Errorf("status %d", st)
					}
					if err != nil {
						errs <- err
						break
					}
				}
				lat[w] = l
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			b.Fatalf("GET /machines under load: %v", err)
		}
		for _, l := range lat {
			total += len(l)
			all = append(all, l...)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(total, 1)), "cpu-us/req")
	b.ReportMetric(ms(percentile(all, 99)), "ms-p99")
	b.ReportMetric(ms(percentile(all, 50)), "ms-p50")
}
