package vagon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Usage is the organization's available usage (GET /usage).
type Usage struct {
	// Minutes is the available usage in minutes (usage_minutes).
	Minutes int64
	// MachineType is the performance type the minutes are counted in
	// (machine_type, e.g. "Planet"); empty when the answer has none.
	MachineType string
	Envelope
}

// UnmarshalJSON reads the documented shape tolerantly: usage_minutes as a
// JSON integer, a whole-valued float (2669.0) or a numeric string ("2669");
// machine_type as a string, null or absent. A missing or unreadable
// usage_minutes is an error: a page must not show an invented balance.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var raw struct {
		UsageMinutes json.RawMessage `json:"usage_minutes"`
		MachineType  json.RawMessage `json:"machine_type"`
		Envelope
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w", err)
	}
	m := bytes.TrimSpace(raw.UsageMinutes)
	if len(m) == 0 || string(m) == "null" {
		return fmt.Errorf("usage_minutes is missing")
	}
	if m[0] == '"' {
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return fmt.Errorf("usage_minutes: %w", err)
		}
		m = []byte(strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(string(m), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(m), 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("usage_minutes: want a number of minutes, got %.20s", m)
		}
		n = int64(math.Floor(f))
	}
	*u = Usage{Minutes: n, Envelope: raw.Envelope}
	if t := bytes.TrimSpace(raw.MachineType); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err == nil {
			u.MachineType = strings.TrimSpace(s)
		}
	}
	return nil
}

// GetUsage returns the organization's available usage.
//
// API: GET /usage
func (c *Client) GetUsage(ctx context.Context) (*Usage, error) {
	out := new(Usage)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /usage", path: "/usage"}, out); err != nil {
		return nil, err
	}
	return out, nil
}
