package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/vagon-dashboard/dashboard/internal/web
BenchmarkFleetMiss-2     	       1	6270578999 ns/op	      6194 bytes/page	        42.35 ms-p50-direct	        43.10 ms-p50-page	         1.018 x-direct
--- BENCH: BenchmarkFleetMiss-2
    fleet_load_bench_test.go:131: testdbconf: postgres://x
BenchmarkFleetCached-2   	       1	5320233749 ns/op	       40.7 ms-p50	       96.9 ms-p99	       2612 req/s
BenchmarkUsagePage-2   	       1	5320233749 ns/op	       120.5 ms/page(median)
pkg: github.com/vagon-dashboard/dashboard/internal/fleet
BenchmarkUsageReport/user-2     1	 1 ns/op	 12.5 ms/report(median)
BenchmarkUsageReport/machine-2  1	 1 ns/op	 30 ms/report(median)
BenchmarkUsageReport/day-2      1	 1 ns/op	 49.9 ms/report(median)
BenchmarkUsageReport/region-2   1	 1 ns/op	 8 ms/report(median)
PASS
`

func TestRows(t *testing.T) {
	got := rows(parse(strings.NewReader(sample)))
	want := []struct{ figure, verdict string }{
		{"1.018× (43.1 vs 42.4 ms)", met},
		{"2,612 req/s, p99 97 ms", met},
		{"user 12.5, machine 30.0, day 49.9, region 8.0 ms", met},
		{"—", notRun},
		{"120.5 ms", notMet},
		{"—", notRun},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].figure != w.figure || got[i].verdict != w.verdict {
			t.Errorf("row %d (%s): %q %q, want %q %q", i, got[i].what, got[i].figure, got[i].verdict, w.figure, w.verdict)
		}
	}
}

func TestRows_verdicts(t *testing.T) {
	cases := []struct {
		name, in string
		row      int
		verdict  string
	}{
		{"ratio over the goal", "BenchmarkFleetMiss-2 1 1 ns/op 1.031 x-direct 44 ms-p50-page 42 ms-p50-direct", 0, notMet},
		{"fast but p99 too long", "BenchmarkFleetCached-2 1 1 ns/op 3000 req/s 101 ms-p99", 1, notMet},
		{"p99 fine, too few", "BenchmarkFleetCached-2 1 1 ns/op 2499 req/s 50 ms-p99", 1, notMet},
		{"with its CPU per request", "BenchmarkFleetCached-2 1 1 ns/op 2600 req/s 50 ms-p99 240 cpu-us/req", 1, met},
		{"a grouping missing", "BenchmarkUsageReport/user-2 1 1 ns/op 1 ms/report(median)", 2, notRun},
		{"one grouping over", "BenchmarkUsageReport/user 1 1 ns/op 1 ms/report(median)\nBenchmarkUsageReport/machine 1 1 ns/op 1 ms/report(median)\nBenchmarkUsageReport/day 1 1 ns/op 51 ms/report(median)\nBenchmarkUsageReport/region 1 1 ns/op 1 ms/report(median)", 2, notMet},
		{"series with subs", "BenchmarkUsageReport/series-user-2 1 1 ns/op 20 ms/series(median)\nBenchmarkUsageReport/series-day-2 1 1 ns/op 60 ms/series(median)", 3, notMet},
		{"series fine", "BenchmarkUsageReport/series-user-2 1 1 ns/op 20 ms/series(median)", 3, met},
		{"sync fine", "BenchmarkSync10k-2 1 1 ns/op 70 s/pass 1.12 x-ideal 150 MB-peak", 5, met},
		{"sync too much memory", "BenchmarkSync10k-2 1 1 ns/op 70 s/pass 1.12 x-ideal 201 MB-peak", 5, notMet},
		{"sync without memory", "BenchmarkSync10k-2 1 1 ns/op 70 s/pass 1.12 x-ideal", 5, notMet},
		{"nothing", "FAIL", 4, notRun},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rows(parse(strings.NewReader(tc.in)))[tc.row]
			if r.verdict != tc.verdict {
				t.Errorf("%s: verdict %q (%s), want %q", r.what, r.verdict, r.figure, tc.verdict)
			}
		})
	}
}

func TestTable_everyRow(t *testing.T) {
	out := table(parse(strings.NewReader(sample)))
	if n := strings.Count(out, "\n"); n != 2+6 {
		t.Errorf("%d lines, want a header and 6 rows:\n%s", n, out)
	}
	if !strings.Contains(out, "**NOT met**") || !strings.Contains(out, "not run") {
		t.Errorf("verdicts missing:\n%s", out)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 2612.4: "2,612", 1234567: "1,234,567"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
