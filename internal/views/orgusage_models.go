package views

import (
	"fmt"
	"strings"
	"time"
)

// Run-out states of OrgUsageView.RunOut (the same words as fleet's
// RunOut* constants; views imports no fleet, the handler maps them).
const (
	OrgRunOutNotEnoughData = "not_enough_data"
	OrgRunOutNotDecreasing = "not_decreasing"
	OrgRunOutProjected     = "projected"
)

// OrgUsageView is the "Organization usage" card on the usage report: the
// balance now (GET /usage), its daily trend and the projected run-out.
type OrgUsageView struct {
	// Error is why GET /usage could not be read, in words; "" when it was.
	Error       string
	Minutes     int64
	MachineType string
	// Trend is one value a day, oldest first (UTC days).
	Trend []OrgUsageDay
	// TrendDays and BurnDays are the windows of the trend and the burn.
	TrendDays, BurnDays int
	// RunOut is one of the OrgRunOut* states; RunOutAt the projected time
	// (projected only); BurnPerDay the average decrease a day in minutes.
	RunOut     string
	RunOutAt   time.Time
	BurnPerDay int64
	CSVURL     string
}

// OrgUsageDay is one day of the trend.
type OrgUsageDay struct {
	Day     string // YYYY-MM-DD (UTC)
	Minutes int64
}

// MinutesInWords renders minutes as "44 hours and 29 minutes", "1 hour",
// "5 minutes" or "0 minutes".
func MinutesInWords(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "minus ", -m
	}
	h, min := m/60, m%60
	hs, ms := Plural(int(h), "hour", "hours"), Plural(int(min), "minute", "minutes")
	switch {
	case h == 0:
		return sign + ms
	case min == 0:
		return sign + hs
	default:
		return sign + hs + " and " + ms
	}
}

// Sparkline geometry of the trend.
const (
	sparkW = 240
	sparkH = 48
	sparkP = 4 // padding
)

// sparkPoints is the trend as an SVG polyline's points; "" with fewer than
// two days.
func sparkPoints(days []OrgUsageDay) string {
	if len(days) < 2 {
		return ""
	}
	lo, hi := days[0].Minutes, days[0].Minutes
	for _, d := range days {
		lo, hi = min(lo, d.Minutes), max(hi, d.Minutes)
	}
	span := float64(hi - lo)
	var b strings.Builder
	for i, d := range days {
		x := sparkP + float64(i)*float64(sparkW-2*sparkP)/float64(len(days)-1)
		y := float64(sparkH) / 2
		if span > 0 {
			y = sparkP + (1-float64(d.Minutes-lo)/span)*float64(sparkH-2*sparkP)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	return b.String()
}

// trendSummary is the text alternative of the sparkline.
func trendSummary(days []OrgUsageDay) string {
	switch len(days) {
	case 0:
		return "No daily readings yet."
	case 1:
		return fmt.Sprintf("One daily reading: %s on %s.", MinutesInWords(days[0].Minutes), days[0].Day)
	}
	first, last := days[0], days[len(days)-1]
	return fmt.Sprintf("%d daily readings, from %s on %s to %s on %s.", len(days),
		MinutesInWords(first.Minutes), first.Day, MinutesInWords(last.Minutes), last.Day)
}
