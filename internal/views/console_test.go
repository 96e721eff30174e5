package views_test

// Issue 9: the shared time component and toasts.

import (
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

func TestLocalTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	at := time.Date(2026, 12, 2, 15, 4, 0, 0, berlin)
	doc, _ := render(t, views.LocalTimeWithID(at, "x"))
	el := doc.Find(`time[data-testid="x"]`)
	if got := el.AttrOr("datetime", ""); got != "2026-12-02T14:04:00Z" {
		t.Errorf("datetime %q, want RFC 3339 in UTC", got)
	}
	if got := el.AttrOr("title", ""); got != "2026-12-02 14:04 UTC" {
		t.Errorf("title %q, want the exact UTC time", got)
	}
	if got := el.Text(); got != "2026-12-02 14:04 UTC" {
		t.Errorf("text %q, want the UTC time until app.js rewrites it", got)
	}
	if _, ok := el.Attr("data-local"); !ok {
		t.Error("no data-local for the enhancer")
	}
	if el.AttrOr("tabindex", "") != "0" {
		t.Error("the exact time is not reachable by keyboard (tabindex)")
	}
	doc, _ = render(t, views.LocalTime(time.Time{}))
	if doc.Find("time").Length() != 0 {
		t.Error("a zero time renders a <time>")
	}
}

func TestToasts(t *testing.T) {
	for _, tc := range []struct {
		kind, role string
		auto       bool
	}{
		{views.FlashSuccess, "status", true},
		{views.FlashInfo, "status", false},
		{views.FlashError, "alert", false},
	} {
		doc, _ := render(t, views.ToastsOOB([]views.Flash{{Kind: tc.kind, Text: "done"}}))
		toast := doc.Find(`[hx-swap-oob="beforeend:#toasts"] [data-testid="toast"]`)
		if toast.Length() != 1 || toast.AttrOr("role", "") != tc.role {
			t.Errorf("%s: %d toasts, role %q, want %s", tc.kind, toast.Length(), toast.AttrOr("role", ""), tc.role)
		}
		if _, auto := toast.Attr("data-autohide"); auto != tc.auto {
			t.Errorf("%s: auto-hide %v, want %v", tc.kind, auto, tc.auto)
		}
		if toast.Find(`button[type="button"][data-toast-dismiss][aria-label]`).Length() != 1 {
			t.Errorf("%s: no labelled dismiss button", tc.kind)
		}
	}
	if _, html := render(t, views.ToastsOOB(nil)); html != "" {
		t.Errorf("no flashes render %q", html)
	}
}
