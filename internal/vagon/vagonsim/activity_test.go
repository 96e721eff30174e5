package vagonsim_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

func TestSim_activitySeedIsDeterministic(t *testing.T) {
	read := func() []vagon.UserActionLog {
		e := newEnv(t, vagonsim.Options{Machines: 20, Seed: 9, ActivityLogs: 300})
		if n := e.sim.ActivityCount(); n != 300 {
			t.Fatalf("%d seeded entries, want 300", n)
		}
		logs, _, err := e.c.ListAllUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.Add(-vagon.UserActionLogRetention), To: t0}, 0)
		must(t, err)
		return logs
	}
	a, b := read(), read()
	if len(a) != 300 || len(a) != len(b) {
		t.Fatalf("%d and %d entries", len(a), len(b))
	}
	kinds := map[string]int{}
	for i := range a {
		if a[i].Key() != b[i].Key() || string(a[i].Raw) != string(b[i].Raw) {
			t.Fatalf("entry %d differs between two seeded simulators", i)
		}
		if a[i].CreatedAt.Before(t0.Add(-vagon.UserActionLogRetention)) || a[i].CreatedAt.After(t0) {
			t.Fatalf("entry %d at %v: outside the last 30 days", i, a[i].CreatedAt)
		}
		kinds[a[i].ActionType]++
	}
	for _, k := range []string{vagon.ActionUserLogin, vagon.ActionFileUploaded, vagon.ActionMachineStarted} {
		if kinds[k] == 0 {
			t.Errorf("no %s seeded (%v)", k, kinds)
		}
	}
	// Seeding activity draws from its own generator: the fleet is unchanged.
	x := newEnv(t, vagonsim.Options{Machines: 20, Seed: 9, ActivityLogs: -1})
	y := newEnv(t, vagonsim.Options{Machines: 20, Seed: 9, ActivityLogs: 5000})
	for _, id := range x.sim.MachineIDs() {
		mx, _ := x.sim.Machine(id)
		my, _ := y.sim.Machine(id)
		jx, _ := json.Marshal(mx)
		jy, _ := json.Marshal(my)
		if string(jx) != string(jy) {
			t.Fatalf("machine %s differs with seeded activity", id)
		}
	}
	if x.sim.ActivityCount() != 0 {
		t.Errorf("ActivityLogs -1 seeded %d", x.sim.ActivityCount())
	}
}

func TestSim_activityLimits(t *testing.T) {
	e := newEnv(t, vagonsim.Options{Machines: 10, Seed: 3, ActivityLogs: 2500, ActivityWindow: 24 * time.Hour})
	full, err := e.c.ListUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.Add(-48 * time.Hour), To: t0})
	must(t, err)
	if len(full.Logs) != vagon.UserActionLogLimit || full.Count != 2500 || !full.Full() {
		t.Fatalf("%d logs, count %d: want the 1000 cap and the full count", len(full.Logs), full.Count)
	}
	if !full.Logs[0].CreatedAt.After(full.Logs[999].CreatedAt) {
		t.Error("not newest first")
	}
	all, st, err := e.c.ListAllUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.Add(-48 * time.Hour), To: t0}, 0)
	must(t, err)
	if len(all) != 2500 || st.Truncated != 0 || st.Calls < 3 {
		t.Fatalf("walk: %d entries, %+v", len(all), st)
	}

	// Older than 30 days is not served; the archive is, and only there.
	old := newEnv(t, vagonsim.Options{Seed: 3, ActivityLogs: 200, ActivityWindow: 60 * 24 * time.Hour})
	all, _, err = old.c.ListAllUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.AddDate(0, 0, -60), To: t0}, 0)
	must(t, err)
	if len(all) == 0 || len(all) >= 200 || all[0].CreatedAt.Before(t0.Add(-vagon.UserActionLogRetention)) {
		t.Fatalf("%d entries, oldest %v: the 30-day limit is not applied", len(all), all[0].CreatedAt)
	}
	if _, err := old.c.ArchivedLogDownloadURLs(ctx(), vagon.ArchivedLogOptions{From: t0.AddDate(0, 0, -40), To: t0.AddDate(0, 0, -10)}); !vagon.IsBadRequest(err) || !strings.Contains(err.Error(), "archived logs only") {
		t.Fatalf("archive of recent days: %v", err)
	}
	if _, err := e.c.ListUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0, To: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestSim_activityShapesAndFilters(t *testing.T) {
	tests := []struct {
		name  string
		shape vagonsim.LogShape
		attrs bool // every item has attributes
		mixed bool
	}{
		{"flat", vagonsim.LogShapeFlat, false, false},
		{"jsonapi", vagonsim.LogShapeJSONAPI, true, false},
		{"mixed", vagonsim.LogShapeMixed, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, vagonsim.Options{Machines: 10, Seed: 5, ActivityLogs: 400, LogShape: tc.shape})
			logs, err := e.c.ListUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.AddDate(0, 0, -30), To: t0})
			must(t, err)
			withAttrs := 0
			for _, l := range logs.Logs {
				if strings.Contains(string(l.Raw), `"attributes"`) {
					withAttrs++
				}
				if l.ID == "" || l.ActionType == "" || l.UserEmail == "" || l.CreatedAt.IsZero() {
					t.Fatalf("entry lost fields: %s", l.Raw)
				}
				if l.MachineID != "" && l.MachineName == "" {
					t.Fatalf("machine entry without a name: %s", l.Raw)
				}
			}
			switch {
			case tc.attrs && withAttrs != len(logs.Logs), !tc.attrs && !tc.mixed && withAttrs != 0, tc.mixed && (withAttrs == 0 || withAttrs == len(logs.Logs)):
				t.Fatalf("%d of %d items in the JSON:API shape", withAttrs, len(logs.Logs))
			}
			arch, err := e.c.ArchivedLogDownloadURLs(ctx(), vagon.ArchivedLogOptions{From: t0.AddDate(0, 0, -33), To: t0.AddDate(0, 0, -32)})
			must(t, err)
			if (arch.Files[0].Date != "") != (tc.shape != vagonsim.LogShapeFlat) || arch.Files[0].URL == "" {
				t.Fatalf("archived file %+v", arch.Files[0])
			}
			if arch.Files[0].Date != "" && arch.Files[0].ExpiresIn != 600*time.Second {
				t.Errorf("default expires_in %v, want 600 s", arch.Files[0].ExpiresIn)
			}
		})
	}
	e := newEnv(t, vagonsim.Options{Machines: 10, Seed: 5, ActivityLogs: 400})
	all, err := e.c.ListUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0.AddDate(0, 0, -30), To: t0})
	must(t, err)
	var probe vagon.UserActionLog
	for _, l := range all.Logs {
		if l.MachineID != "" {
			probe = l
			break
		}
	}
	filters := []struct {
		name string
		o    vagon.UserActionLogOptions
		keep func(vagon.UserActionLog) bool
	}{
		{"action", vagon.UserActionLogOptions{ActionType: vagon.ActionUserLogin}, func(l vagon.UserActionLog) bool { return l.ActionType == vagon.ActionUserLogin }},
		{"email", vagon.UserActionLogOptions{UserEmail: probe.UserEmail}, func(l vagon.UserActionLog) bool { return l.UserEmail == probe.UserEmail }},
		{"machine", vagon.UserActionLogOptions{MachineID: string(probe.MachineID)}, func(l vagon.UserActionLog) bool { return l.MachineID == probe.MachineID }},
	}
	for _, f := range filters {
		want := 0
		for _, l := range all.Logs {
			if f.keep(l) {
				want++
			}
		}
		f.o.From, f.o.To = t0.AddDate(0, 0, -30), t0
		got, err := e.c.ListUserActionLogs(ctx(), f.o)
		must(t, err)
		if want == 0 || len(got.Logs) != want {
			t.Errorf("filter %s: %d entries, want %d", f.name, len(got.Logs), want)
		}
		for _, l := range got.Logs {
			if !f.keep(l) {
				t.Errorf("filter %s let through %s", f.name, l.Raw)
			}
		}
	}
	if _, err := e.c.ListUserActionLogs(ctx(), vagon.UserActionLogOptions{From: t0, To: t0.Add(time.Hour), MachineID: "x"}); !vagon.IsBadRequest(err) {
		t.Errorf("bad machine id: %v", err)
	}
}

func TestSim_permissionFieldsMissing(t *testing.T) {
	e := newEnv(t, vagonsim.Options{NoPermissionFields: true})
	if _, err := e.c.ListPermissionFields(ctx()); !vagon.IsEndpointMissing(err) {
		t.Fatalf("err %v, want endpoint missing", err)
	}
}
