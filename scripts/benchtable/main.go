// Command benchtable runs the benchmarks of issue 13 ("Fast at scale") in one
// run and prints their table: each row's figure from this run, its goal and
// a verdict (met, NOT met, or not run when its benchmark is missing or
// failed). `make bench` runs it; -in reads saved `go test -bench` output
// instead of running anything.
//
//	go run ./scripts/benchtable [-benchtime 1x] [-in bench.txt]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// run is one `go test` invocation: the benchmarks of one package.
type run struct {
	pkg   string
	bench []string
}

// runs are the benchmarks the table reads, by package. The fleet page's two
// come first: their ratio is against the direct API call of the same run.
var runs = []run{
	{"./internal/web", []string{"BenchmarkFleetMiss", "BenchmarkFleetCached", "BenchmarkUsagePage"}},
	{"./internal/fleet", []string{"BenchmarkUsageReport", "BenchmarkSync10k"}},
}

func main() {
	in := flag.String("in", "", "read `go test -bench` output from this file (- for stdin) instead of running the benchmarks")
	benchtime := flag.String("benchtime", "1x", "go test -benchtime (each benchmark measures its own samples)")
	timeout := flag.String("timeout", "20m", "go test -timeout")
	flag.Parse()

	var out bytes.Buffer
	failed := false
	if *in != "" {
		var r io.Reader = os.Stdin
		if *in != "-" {
			f, err := os.Open(*in)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchtable:", err)
				os.Exit(2)
			}
			defer f.Close()
			r = f
		}
		if _, err := io.Copy(&out, r); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(2)
		}
	} else {
		for _, r := range runs {
			args := []string{"test", "-run", "^$", "-bench", "^(" + strings.Join(r.bench, "|") + ")$",
				"-benchtime", *benchtime, "-timeout", *timeout, r.pkg}
			fmt.Fprintln(os.Stderr, "+ go", strings.Join(args, " "))
			cmd := exec.Command("go", args...)
			// The output goes to the terminal as it comes, and is read after.
			cmd.Stdout = io.MultiWriter(&out, os.Stderr)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "benchtable: %s: %v (its rows read what it printed)\n", r.pkg, err)
				failed = true
			}
		}
	}
	res := parse(&out)
	fmt.Println()
	fmt.Print(table(res))
	if failed {
		os.Exit(1)
	}
}

// results are the metrics of each benchmark, by name without the -N
// GOMAXPROCS suffix ("BenchmarkUsageReport/user") and then by unit.
type results map[string]map[string]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// parse reads the result lines of `go test -bench` output.
func parse(r io.Reader) results {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			metrics[f[i+1]] = v
		}
		if len(metrics) > 0 {
			res[m[1]] = metrics
		}
	}
	return res
}

// metric is one metric of one benchmark.
func (r results) metric(bench, unit string) (float64, bool) {
	v, ok := r[bench][unit]
	return v, ok
}

// subs are the sub-benchmarks of bench that report unit, with their values
// (bench itself, when it has no sub-benchmarks, under "").
func (r results) subs(bench, unit string) map[string]float64 {
	out := map[string]float64{}
	for name, ms := range r {
		v, ok := ms[unit]
		if !ok {
			continue
		}
		switch {
		case name == bench:
			out[""] = v
		case strings.HasPrefix(name, bench+"/"):
			out[strings.TrimPrefix(name, bench+"/")] = v
		}
	}
	return out
}

// row is one line of the table.
type row struct {
	what, figure, goal, verdict string
}

const (
	met    = "met"
	notMet = "NOT met"
	notRun = "not run"
)

func verdict(ok bool) string {
	if ok {
		return met
	}
	return notMet
}

// The goals of issue 13.
const (
	goalMissRatio   = 1.03
	goalCachedRPS   = 2500
	goalCachedP99   = 100
	goalReportMS    = 50
	goalSeriesMS    = 50
	goalPageMS      = 100
	goalSyncXIdeal  = 1.2
	goalSyncMBPeak  = 200
	reportGroupings = "user,machine,day,region"
)

func rows(r results) []row {
	var out []row

	miss := row{what: "`/machines` on a cache miss, p50, vs the same API call made directly", goal: fmt.Sprintf("≤ %.2f×", goalMissRatio), verdict: notRun, figure: "—"}
	if x, ok := r.metric("BenchmarkFleetMiss", "x-direct"); ok {
		p, _ := r.metric("BenchmarkFleetMiss", "ms-p50-page")
		d, _ := r.metric("BenchmarkFleetMiss", "ms-p50-direct")
		miss.figure = fmt.Sprintf("%.3f× (%.1f vs %.1f ms)", x, p, d)
		miss.verdict = verdict(x <= goalMissRatio)
	}
	out = append(out, miss)

	cached := row{what: "`/machines` from cache, 200 concurrent viewers, closed loop", goal: fmt.Sprintf("≥ %s req/s, p99 ≤ %d ms", thousands(goalCachedRPS), goalCachedP99), verdict: notRun, figure: "—"}
	if rps, ok := r.metric("BenchmarkFleetCached", "req/s"); ok {
		p99, ok99 := r.metric("BenchmarkFleetCached", "ms-p99")
		cached.figure = fmt.Sprintf("%s req/s, p99 %.0f ms", thousands(rps), p99)
		if cpu, ok := r.metric("BenchmarkFleetCached", "cpu-us/req"); ok {
			// What a request costs whatever else runs: the machine is shared.
			cached.figure += fmt.Sprintf(" (process CPU %.0f µs/req)", cpu)
		}
		cached.verdict = verdict(ok99 && rps >= goalCachedRPS && p99 <= goalCachedP99)
	}
	out = append(out, cached)

	report := row{what: "usage report, 1,000,000 sessions, 90 days, table (BenchmarkUsageReport)", goal: fmt.Sprintf("≤ %d ms, every grouping", goalReportMS), verdict: notRun, figure: "—"}
	if subs := r.subs("BenchmarkUsageReport", "ms/report(median)"); len(subs) > 0 {
		var parts, missing []string
		worst := 0.0
		for _, g := range strings.Split(reportGroupings, ",") {
			v, ok := subs[g]
			if !ok {
				missing = append(missing, g)
				continue
			}
			worst = math.Max(worst, v)
			parts = append(parts, fmt.Sprintf("%s %.1f", g, v))
		}
		report.figure = strings.Join(parts, ", ") + " ms"
		if len(missing) > 0 {
			report.figure += "; not run: " + strings.Join(missing, ", ")
			report.verdict = notRun
		} else {
			report.verdict = verdict(worst <= goalReportMS)
		}
	}
	out = append(out, report)

	series := row{what: "the same page's top-5 series (the chart)", goal: fmt.Sprintf("≤ %d ms", goalSeriesMS), verdict: notRun, figure: "—"}
	if subs := r.subs("BenchmarkUsageReport", "ms/series(median)"); len(subs) > 0 {
		worst, detail := worstOf(subs)
		series.figure = fmt.Sprintf("%.1f ms%s", worst, detail)
		series.verdict = verdict(worst <= goalSeriesMS)
	}
	out = append(out, series)

	page := row{what: "whole /reports/usage page at 1M sessions", goal: fmt.Sprintf("≤ %d ms", goalPageMS), verdict: notRun, figure: "—"}
	if subs := r.subs("BenchmarkUsagePage", "ms/page(median)"); len(subs) > 0 {
		worst, detail := worstOf(subs)
		page.figure = fmt.Sprintf("%.1f ms%s", worst, detail)
		page.verdict = verdict(worst <= goalPageMS)
	}
	out = append(out, page)

	sync := row{what: "sessions sync, 10,000 machines, 50 ms latency, concurrency 8", goal: fmt.Sprintf("≤ %.1f × (10,000 / 8 × 50 ms), memory ≤ %d MB", goalSyncXIdeal, goalSyncMBPeak), verdict: notRun, figure: "—"}
	if x, ok := r.metric("BenchmarkSync10k", "x-ideal"); ok {
		s, _ := r.metric("BenchmarkSync10k", "s/pass")
		mb, okMB := r.metric("BenchmarkSync10k", "MB-peak")
		sync.figure = fmt.Sprintf("%.1f s/pass = %.2f× ideal, %.0f MB peak", s, x, mb)
		sync.verdict = verdict(okMB && x <= goalSyncXIdeal && mb <= goalSyncMBPeak)
	}
	out = append(out, sync)
	return out
}

// worstOf is the largest value and, with sub-benchmarks, which one it was.
func worstOf(subs map[string]float64) (float64, string) {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	worst, at := -1.0, ""
	for _, n := range names {
		if subs[n] > worst {
			worst, at = subs[n], n
		}
	}
	if at == "" || len(subs) == 1 {
		return worst, ""
	}
	return worst, " (worst: " + at + ")"
}

func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// table is the Markdown table of r.
func table(r results) string {
	var b strings.Builder
	b.WriteString("| what | measured | goal | verdict |\n|---|---|---|---|\n")
	for _, x := range rows(r) {
		v := x.verdict
		if v == notMet {
			v = "**" + v + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.what, x.figure, x.goal, v)
	}
	return b.String()
}
