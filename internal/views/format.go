package views

import (
	"fmt"
	"strconv"
	"time"
)

// FormatMinutes renders a duration in minutes as "12 h 5 min", "3 h", "45 min"
// or "0 min". Negative values keep their sign.
func FormatMinutes(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	h, min := m/60, m%60
	switch {
	case h == 0:
		return fmt.Sprintf("%s%d min", sign, min)
	case min == 0:
		return fmt.Sprintf("%s%d h", sign, h)
	default:
		return fmt.Sprintf("%s%d h %d min", sign, h, min)
	}
}

// FormatBytes renders a size in bytes with binary units: "512 B", "1.5 KiB",
// "20.0 GiB".
func FormatBytes(b int64) string {
	const unit = 1024
	if b < unit && b > -unit {
		return strconv.FormatInt(b, 10) + " B"
	}
	f := float64(b)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for (f >= unit || f <= -unit) && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// FormatGB renders a size the Vagon API gives in GB: "25 GB", "1.5 TB" from
// 1024 GB up.
func FormatGB(gb int64) string {
	if gb >= 1024 {
		return strconv.FormatFloat(float64(gb)/1024, 'f', 1, 64) + " TB"
	}
	return strconv.FormatInt(gb, 10) + " GB"
}

// FormatTime renders an instant exactly, in UTC: "2025-03-04 15:04 UTC". The
// empty string for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// FormatCount renders an integer with thin grouping: 12345 -> "12,345".
func FormatCount(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Plural returns "1 machine" or "3 machines": the count with the right
// form of the noun. Use it for every counted noun a person reads, never
// "machine(s)".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return FormatCount(n) + " " + many
}

// plural is Plural for the templates of this package.
func plural(n int, one, many string) string { return Plural(n, one, many) }
