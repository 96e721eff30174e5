package views

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The usage chart is drawn on the server as inline SVG: these pure functions
// turn minutes per day into geometry in the SVG's own coordinate system
// (its viewBox); CSS scales it to the page and colours it for light and dark.

// Size of the chart's viewBox and of the margins around its plot area, in
// SVG user units. Labels need the left and bottom margins.
const (
	ChartWidth  = 960
	ChartHeight = 260

	chartMarginLeft   = 56
	chartMarginRight  = 12
	chartMarginTop    = 12
	chartMarginBottom = 28

	// chartMaxBarWidth keeps a range of one or two days from drawing
	// slabs; chartBarFill is the share of a day's slot its bar covers.
	chartMaxBarWidth = 40
	chartBarFill     = 0.72
	// chartMaxXLabels bounds the day labels under the axis.
	chartMaxXLabels = 12
	// chartTargetTicks is about how many steps the value axis has.
	chartTargetTicks = 4
	// ChartPalette is how many distinct series colours the CSS defines
	// (classes rchart-s0 ... rchart-s5); "other" has its own (rchart-other).
	ChartPalette = 6
)

// ChartData is what a usage chart shows: a value per day for each series,
// drawn as bars stacked in series order (the first at the bottom).
type ChartData struct {
	// Days are the x axis, YYYY-MM-DD, oldest first.
	Days   []string
	Series []ChartSeriesData
}

// ChartSeriesData is one stacked series of a chart.
type ChartSeriesData struct {
	Label string
	// Minutes holds one value per day, aligned with ChartData.Days; a
	// shorter slice counts as zeros.
	Minutes []int64
	// Other marks the series that sums every group outside the top ones
	// (drawn in a neutral colour).
	Other bool
}

// ChartView is the geometry of a chart, ready to draw.
type ChartView struct {
	Width, Height float64
	// Plot is the rectangle the bars live in (axes along its left and
	// bottom edges).
	PlotLeft, PlotTop, PlotRight, PlotBottom float64
	// YMax is the value, in minutes, at the top of the plot.
	YMax float64
	// YTicks are the value axis marks (Pos is a y coordinate), XTicks the
	// day labels (Pos is an x coordinate at the middle of the day's slot).
	YTicks []ChartTick
	XTicks []ChartTick
	Bars   []ChartBar
	Legend []ChartLegend
	// Empty is true when every value is zero (or there are no days).
	Empty bool
	// Summary says in words what the chart shows (the SVG's <desc>).
	Summary string
}

// ChartTick is one label on an axis.
type ChartTick struct {
	Pos   float64
	Label string
}

// ChartBar is one rectangle: one series on one day.
type ChartBar struct {
	X, Y, W, H float64
	// Class picks the series colour (rchart-s0 ... rchart-other).
	Class string
	// Title is the tooltip: day, series and value.
	Title string
	Day   string
}

// ChartLegend is one entry of the legend.
type ChartLegend struct {
	Class string
	Label string
	// Total is the series' sum over the range, formatted ("12 h 5 min").
	Total string
}

// ChartSeriesClass is the CSS class of the i-th series (rchart-s0 ...), or
// rchart-other for the "other groups" series.
func ChartSeriesClass(i int, other bool) string {
	if other {
		return "rchart-other"
	}
	if i < 0 {
		i = -i
	}
	return "rchart-s" + strconv.Itoa(i%ChartPalette)
}

// NiceStep returns the smallest number of the form 1, 2 or 5 times a power
// of ten that is at least raw (1 for raw <= 0).
func NiceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		// A tolerance keeps float noise (0.30000000000000004) from
		// pushing an exact value up a step.
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ChartAxis picks the value axis for a chart whose tallest stack is
// maxMinutes: a step that reads well in minutes under an hour (5, 10, 15 or
// 30) and in whole hours above (1, 2, 5 × 10ⁿ h), and the top, a whole
// number of steps at or above maxMinutes. Zero data gets a one-hour axis.
func ChartAxis(maxMinutes int64) (top, step float64) {
	if maxMinutes <= 0 {
		return 60, 15
	}
	raw := float64(maxMinutes) / chartTargetTicks
	step = 0
	for _, c := range []float64{5, 10, 15, 30} {
		if raw <= c {
			step = c
			break
		}
	}
	if step == 0 {
		step = NiceStep(raw/60) * 60
	}
	top = math.Ceil(float64(maxMinutes)/step) * step
	return top, step
}

// ChartScale maps a value in [0, top] to a y coordinate in a plot from
// plotTop (value top) down to plotBottom (value 0). Values outside are
// clamped; top <= 0 maps everything to plotBottom.
func ChartScale(v, top, plotTop, plotBottom float64) float64 {
	if top <= 0 || v <= 0 {
		return plotBottom
	}
	if v > top {
		v = top
	}
	return plotBottom - (plotBottom-plotTop)*v/top
}

// FormatAxisMinutes labels a value axis mark: "0", "45 min", "2 h",
// "1.5 h".
func FormatAxisMinutes(m float64) string {
	switch {
	case m <= 0:
		return "0"
	case m < 60:
		return strconv.FormatFloat(math.Round(m), 'f', -1, 64) + " min"
	}
	h := m / 60
	if h == math.Trunc(h) {
		return strconv.FormatFloat(h, 'f', 0, 64) + " h"
	}
	return strconv.FormatFloat(h, 'f', 1, 64) + " h"
}

// chartDayLabel is a short day label: "Mar 4". Anything that is not a date
// is returned as it is.
func chartDayLabel(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}

// chartDayLong is a day for tooltips: "Tue 4 Mar 2025".
func chartDayLong(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Mon 2 Jan 2006")
}

func valueAt(v []int64, i int) int64 {
	if i < len(v) && v[i] > 0 {
		return v[i]
	}
	return 0
}

// BuildChart lays out a stacked bar chart of d: one slot per day, a bar per
// series with minutes that day, a value axis in hours, at most
// chartMaxXLabels day labels, and a legend.
func BuildChart(d ChartData) ChartView {
	v := ChartView{
		Width: ChartWidth, Height: ChartHeight,
		PlotLeft: chartMarginLeft, PlotTop: chartMarginTop,
		PlotRight: ChartWidth - chartMarginRight, PlotBottom: ChartHeight - chartMarginBottom,
	}
	n := len(d.Days)
	totals := make([]int64, n)
	var grand, maxDay int64
	busiest := -1
	for i := range n {
		for _, s := range d.Series {
			totals[i] += valueAt(s.Minutes, i)
		}
		grand += totals[i]
		if totals[i] > maxDay {
			maxDay, busiest = totals[i], i
		}
	}
	v.Empty = grand == 0
	top, step := ChartAxis(maxDay)
	v.YMax = top
	for t := 0.0; t <= top+step/2; t += step {
		v.YTicks = append(v.YTicks, ChartTick{Pos: ChartScale(t, top, v.PlotTop, v.PlotBottom), Label: FormatAxisMinutes(t)})
	}
	if n == 0 {
		v.Summary = "No days to show."
		return v
	}

	slot := (v.PlotRight - v.PlotLeft) / float64(n)
	bw := math.Max(1, math.Min(slot*chartBarFill, chartMaxBarWidth))
	every := (n + chartMaxXLabels - 1) / chartMaxXLabels
	for i, day := range d.Days {
		mid := v.PlotLeft + (float64(i)+0.5)*slot
		if i%every == 0 {
			v.XTicks = append(v.XTicks, ChartTick{Pos: mid, Label: chartDayLabel(day)})
		}
		var base int64
		for si, s := range d.Series {
			m := valueAt(s.Minutes, i)
			if m == 0 {
				continue
			}
			y0 := ChartScale(float64(base), top, v.PlotTop, v.PlotBottom)
			y1 := ChartScale(float64(base+m), top, v.PlotTop, v.PlotBottom)
			base += m
			title := fmt.Sprintf("%s · %s: %s", chartDayLong(day), s.Label, FormatMinutes(m))
			if len(d.Series) > 1 {
				title += " (day total " + FormatMinutes(totals[i]) + ")"
			}
			v.Bars = append(v.Bars, ChartBar{
				X: mid - bw/2, Y: y1, W: bw, H: y0 - y1,
				Class: ChartSeriesClass(si, s.Other), Title: title, Day: day,
			})
		}
	}
	for si, s := range d.Series {
		var sum int64
		for i := range n {
			sum += valueAt(s.Minutes, i)
		}
		v.Legend = append(v.Legend, ChartLegend{Class: ChartSeriesClass(si, s.Other), Label: s.Label, Total: FormatMinutes(sum)})
	}
	v.Summary = fmt.Sprintf("Minutes of sessions per day from %s to %s: %s in all.",
		chartDayLong(d.Days[0]), chartDayLong(d.Days[n-1]), FormatMinutes(grand))
	if busiest >= 0 {
		v.Summary += fmt.Sprintf(" The busiest day was %s with %s.", chartDayLong(d.Days[busiest]), FormatMinutes(maxDay))
	}
	return v
}

// svgNum formats a coordinate for an SVG attribute: at most two decimals,
// no trailing zeros.
func svgNum(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}
