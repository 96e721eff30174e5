package views

import (
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestNiceStep(t *testing.T) {
	tests := []struct {
		raw, want float64
	}{
		{0, 1}, {-3, 1}, {1, 1}, {1.1, 2}, {2, 2}, {2.01, 5}, {4.9, 5}, {5.1, 10},
		{0.3, 0.5}, {0.07, 0.1}, {12, 20}, {99, 100}, {101, 200}, {0.1 + 0.2, 0.5},
	}
	for _, tt := range tests {
		if got := NiceStep(tt.raw); !near(got, tt.want) {
			t.Errorf("NiceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestChartAxis(t *testing.T) {
	tests := []struct {
		name           string
		max            int64
		wantTop, wantS float64
	}{
		{"zero data gets a one-hour axis", 0, 60, 15},
		{"a few minutes", 3, 5, 5},
		{"under an hour", 50, 60, 15},
		{"exactly two hours", 120, 120, 30},
		{"hours step in whole hours", 7 * 60, 8 * 60, 2 * 60},
		{"a busy fleet day", 64 * 60, 80 * 60, 20 * 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, step := ChartAxis(tt.max)
			if !near(top, tt.wantTop) || !near(step, tt.wantS) {
				t.Fatalf("ChartAxis(%d) = (%v, %v), want (%v, %v)", tt.max, top, step, tt.wantTop, tt.wantS)
			}
			if top < float64(tt.max) {
				t.Fatalf("top %v below the data's max %d", top, tt.max)
			}
			if n := top / step; n > 6 || n != math.Trunc(n) {
				t.Fatalf("top %v is not a whole, small number of steps %v", top, step)
			}
		})
	}
}

func TestChartScale(t *testing.T) {
	tests := []struct {
		name                        string
		v, top, plotTop, plotBottom float64
		want                        float64
	}{
		{"zero sits on the axis", 0, 100, 10, 210, 210},
		{"top reaches the plot top", 100, 100, 10, 210, 10},
		{"half is halfway", 50, 100, 10, 210, 110},
		{"above top is clamped", 150, 100, 10, 210, 10},
		{"negative is clamped", -5, 100, 10, 210, 210},
		{"no range maps to the axis", 5, 0, 10, 210, 210},
	}
	for _, tt := range tests {
		if got := ChartScale(tt.v, tt.top, tt.plotTop, tt.plotBottom); !near(got, tt.want) {
			t.Errorf("%s: ChartScale = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFormatAxisMinutes(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 15: "15 min", 60: "1 h", 90: "1.5 h", 1200: "20 h"} {
		if got := FormatAxisMinutes(in); got != want {
			t.Errorf("FormatAxisMinutes(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildChart_scalesStackedBars(t *testing.T) {
	d := ChartData{
		Days: []string{"2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"},
		Series: []ChartSeriesData{
			{Label: "ada@example.com", Minutes: []int64{60, 0, 180, 30}},
			{Label: "bob@example.com", Minutes: []int64{60, 0, 60}}, // short: the rest count as zero
			{Label: "Other", Minutes: []int64{0, 0, 0, 30}, Other: true},
		},
	}
	c := BuildChart(d)
	if c.Empty {
		t.Fatal("Empty is true for a chart with data")
	}
	// Tallest day: 240 min; the axis reaches exactly that (4 h, 1 h steps).
	if !near(c.YMax, 240) {
		t.Fatalf("YMax = %v, want 240", c.YMax)
	}
	if len(c.YTicks) != 5 || c.YTicks[0].Label != "0" || c.YTicks[4].Label != "4 h" {
		t.Fatalf("YTicks = %+v", c.YTicks)
	}
	if !near(c.YTicks[4].Pos, c.PlotTop) || !near(c.YTicks[0].Pos, c.PlotBottom) {
		t.Fatalf("ticks do not span the plot: %+v", c.YTicks)
	}
	plotH := c.PlotBottom - c.PlotTop
	perMinute := plotH / 240

	// One bar per non-zero value: day 1 two, day 2 none, day 3 two, day 4 two.
	if len(c.Bars) != 6 {
		t.Fatalf("got %d bars, want 6: %+v", len(c.Bars), c.Bars)
	}
	byDay := map[string][]ChartBar{}
	for _, b := range c.Bars {
		byDay[b.Day] = append(byDay[b.Day], b)
		if b.W <= 0 || b.W > chartMaxBarWidth || b.H <= 0 {
			t.Errorf("bar %+v has a bad size", b)
		}
		if b.X < c.PlotLeft || b.X+b.W > c.PlotRight || b.Y < c.PlotTop-1e-9 || b.Y+b.H > c.PlotBottom+1e-9 {
			t.Errorf("bar %+v leaves the plot", b)
		}
	}
	day3 := byDay["2025-03-03"]
	if len(day3) != 2 {
		t.Fatalf("day 3 bars: %+v", day3)
	}
	// Heights are proportional to minutes; the stack starts on the axis,
	// each bar sits on the one below, and the full day reaches the top.
	if !near(day3[0].H, 180*perMinute) || !near(day3[1].H, 60*perMinute) {
		t.Errorf("day 3 heights %v, %v; want %v, %v", day3[0].H, day3[1].H, 180*perMinute, 60*perMinute)
	}
	if !near(day3[0].Y+day3[0].H, c.PlotBottom) || !near(day3[1].Y+day3[1].H, day3[0].Y) || !near(day3[1].Y, c.PlotTop) {
		t.Errorf("day 3 stack is not stacked from the axis to the top: %+v", day3)
	}
	if day3[0].Class != "rchart-s0" || day3[1].Class != "rchart-s1" {
		t.Errorf("classes %q, %q", day3[0].Class, day3[1].Class)
	}
	if b := byDay["2025-03-04"]; len(b) != 2 || b[1].Class != "rchart-other" {
		t.Errorf("day 4 bars: %+v", b)
	}
	if _, ok := byDay["2025-03-02"]; ok {
		t.Error("a day without minutes has bars")
	}
	if !strings.Contains(day3[0].Title, "Mon 3 Mar 2025") || !strings.Contains(day3[0].Title, "ada@example.com: 3 h") ||
		!strings.Contains(day3[0].Title, "day total 4 h") {
		t.Errorf("title %q", day3[0].Title)
	}
	// Bars of one day share x; later days are further right.
	if !near(day3[0].X, day3[1].X) || !(byDay["2025-03-01"][0].X < day3[0].X) {
		t.Error("bars are not placed by day")
	}
	if len(c.Legend) != 3 || c.Legend[0].Total != "4 h 30 min" || c.Legend[2].Class != "rchart-other" {
		t.Errorf("legend %+v", c.Legend)
	}
	if len(c.XTicks) != 4 || c.XTicks[0].Label != "Mar 1" {
		t.Errorf("XTicks %+v", c.XTicks)
	}
}

func TestBuildChart_zeroData(t *testing.T) {
	c := BuildChart(ChartData{
		Days:   []string{"2025-03-01", "2025-03-02"},
		Series: []ChartSeriesData{{Label: "All machines", Minutes: []int64{0, 0}}},
	})
	if !c.Empty || len(c.Bars) != 0 {
		t.Fatalf("Empty = %v, %d bars; want an empty chart", c.Empty, len(c.Bars))
	}
	if len(c.YTicks) < 2 || len(c.XTicks) != 2 {
		t.Fatalf("an empty chart still has axes: y %+v x %+v", c.YTicks, c.XTicks)
	}
	for _, tk := range c.YTicks {
		if math.IsNaN(tk.Pos) || math.IsInf(tk.Pos, 0) {
			t.Fatalf("tick at %v", tk.Pos)
		}
	}
	if c2 := BuildChart(ChartData{}); !c2.Empty || len(c2.Bars) != 0 || len(c2.XTicks) != 0 {
		t.Fatalf("no days: %+v", c2)
	}
	// No series at all (no sessions synced) is empty too.
	if c3 := BuildChart(ChartData{Days: []string{"2025-03-01"}}); !c3.Empty {
		t.Fatal("no series is not empty")
	}
}

func TestBuildChart_oneDay(t *testing.T) {
	c := BuildChart(ChartData{
		Days:   []string{"2025-03-01"},
		Series: []ChartSeriesData{{Label: "All machines", Minutes: []int64{45}}},
	})
	if len(c.Bars) != 1 || len(c.XTicks) != 1 {
		t.Fatalf("bars %+v ticks %+v", c.Bars, c.XTicks)
	}
	b := c.Bars[0]
	// One day does not become a slab: the bar keeps its maximum width and
	// stands in the middle of the plot.
	if !near(b.W, chartMaxBarWidth) {
		t.Errorf("width %v, want %v", b.W, float64(chartMaxBarWidth))
	}
	mid := (c.PlotLeft + c.PlotRight) / 2
	if !near(b.X+b.W/2, mid) || !near(c.XTicks[0].Pos, mid) {
		t.Errorf("bar centre %v, tick %v; want %v", b.X+b.W/2, c.XTicks[0].Pos, mid)
	}
	if !near(c.YMax, 45) || !near(b.H, c.PlotBottom-c.PlotTop) {
		t.Errorf("YMax %v, height %v", c.YMax, b.H)
	}
	if strings.Contains(b.Title, "day total") {
		t.Errorf("a single series repeats the day total: %q", b.Title)
	}
}

func TestBuildChart_manyDaysThinLabels(t *testing.T) {
	days := make([]string, 90)
	mins := make([]int64, 90)
	for i := range days {
		days[i] = "2025-01-01"
		mins[i] = int64(i)
	}
	c := BuildChart(ChartData{Days: days, Series: []ChartSeriesData{{Label: "x", Minutes: mins}}})
	if len(c.XTicks) > chartMaxXLabels {
		t.Fatalf("%d day labels, want at most %d", len(c.XTicks), chartMaxXLabels)
	}
	if len(c.Bars) != 89 {
		t.Fatalf("%d bars, want 89 (day 0 has no minutes)", len(c.Bars))
	}
}

func TestSvgNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 1.5: "1.5", 2.345: "2.35", 10.0001: "10", -3.2: "-3.2"} {
		if got := svgNum(in); got != want {
			t.Errorf("svgNum(%v) = %q, want %q", in, got, want)
		}
	}
}
