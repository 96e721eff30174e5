package fleet_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

const permFieldsEndpoint = "GET /machines/permission-fields"

// TestService_PermissionFields: the API's list labelled (known keys from
// fleet.Permissions, others from their name), and the seven known keys when
// the endpoint is missing or fails.
func TestService_PermissionFields(t *testing.T) {
	seven := func() []fleet.Permission {
		var out []fleet.Permission
		for _, f := range vagon.KnownPermissionFields() {
			p := fleet.Permissions[len(out)]
			p.Type, p.Default = f.Type, f.Default
			out = append(out, p)
		}
		return out
	}
	unknownHelp := "A permission Vagon's API lists that this dashboard does not know yet."
	for _, tc := range []struct {
		name  string
		opts  vagonsim.Options
		fault *vagonsim.Fault
		want  []fleet.Permission
		warn  bool
	}{
		{name: "the API's seven", want: seven()},
		{name: "endpoint missing", opts: vagonsim.Options{NoPermissionFields: true}, want: seven()},
		{name: "endpoint fails", fault: &vagonsim.Fault{Status: http.StatusInternalServerError}, want: seven(), warn: true},
		{name: "an unknown key, another type, a known key left out",
			opts: vagonsim.Options{PermissionFields: []vagon.PermissionField{
				{Name: vagon.PermClipboard, Type: "boolean", Default: false},
				{Name: "some_new_flag", Type: "boolean", Default: true},
				{Name: "max_sessions", Type: "integer"},
			}},
			want: []fleet.Permission{
				{Key: vagon.PermClipboard, Label: fleet.PermissionLabel(vagon.PermClipboard), Help: fleet.Permissions[4].Help, Type: "boolean"},
				{Key: "some_new_flag", Label: "Some new flag", Help: unknownHelp, Type: "boolean", Default: true},
				{Key: "max_sessions", Label: "Max sessions (integer)", Help: unknownHelp, Type: "integer"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, c := simClient(t, tc.opts)
			if tc.fault != nil {
				sim.Enqueue(permFieldsEndpoint, 10, *tc.fault)
			}
			var logs bytes.Buffer
			svc := fleet.NewService(c, nil, fleet.ServiceOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			got := svc.PermissionFields(context.Background())
			if len(got) != len(tc.want) {
				t.Fatalf("got %d fields %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("field %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if w := strings.Contains(logs.String(), "level=WARN"); w != tc.warn {
				t.Errorf("warned %v, want %v: %s", w, tc.warn, logs.String())
			}
		})
	}
}

// TestService_PermissionFields_cached: one ask for many callers within ten
// minutes, a new ask after; a failure is logged once and asked again sooner.
func TestService_PermissionFields_cached(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{})
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var logs bytes.Buffer
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{Now: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got := svc.PermissionFields(ctx); len(got) != 7 {
				t.Errorf("%d fields", len(got))
			}
		})
	}
	wg.Wait()
	advance(9 * time.Minute)
	svc.PermissionFields(ctx)
	if n := sim.Count(permFieldsEndpoint); n != 1 {
		t.Fatalf("asks within 10 minutes: %d, want 1", n)
	}
	advance(2 * time.Minute)
	sim.Enqueue(permFieldsEndpoint, 100, vagonsim.Fault{Status: http.StatusInternalServerError})
	if got := svc.PermissionFields(ctx); len(got) != 7 {
		t.Fatalf("fallback: %d fields", len(got))
	}
	before := sim.Count(permFieldsEndpoint)
	if before < 2 {
		t.Fatalf("not asked again after 10 minutes (%d asks)", before)
	}
	svc.PermissionFields(ctx)
	if n := sim.Count(permFieldsEndpoint); n != before {
		t.Errorf("a failure was asked again within a minute: %d asks, was %d", n, before)
	}
	advance(2 * time.Minute)
	svc.PermissionFields(ctx)
	if n := sim.Count(permFieldsEndpoint); n == before {
		t.Error("a failure was not asked again after a minute")
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1: %s", n, logs.String())
	}
}

func TestGenericPermissionLabel(t *testing.T) {
	for in, want := range map[string]string{
		"some_new_flag": "Some new flag",
		"x":             "X",
		"already-dash":  "Already dash",
		"__":            "__",
		"élan_vital":    "Élan vital",
	} {
		if got := fleet.GenericPermissionLabel(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
