package fleet_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// fakeSessions answers ListSessions from a map (the Vagon API is the only
// thing faked); it counts calls and the most run at once.
type fakeSessions struct {
	mu        sync.Mutex
	by        map[string][]vagon.Session
	fail      map[string]bool
	calls     int
	running   int
	maxAtOnce int
}

func (f *fakeSessions) ListSessions(_ context.Context, id string) ([]vagon.Session, error) {
	f.mu.Lock()
	f.calls++
	f.running++
	f.maxAtOnce = max(f.maxAtOnce, f.running)
	f.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	if f.fail[id] {
		return nil, errors.New("boom")
	}
	return f.by[id], nil
}

func session(start time.Time, ended bool) vagon.Session {
	var s vagon.Session
	s.Attributes.StartAt = start
	if ended {
		e := start.Add(time.Hour)
		s.Attributes.EndAt = &e
	}
	return s
}

func machineWith(id string, st vagon.Status, image string) vagon.Machine {
	var m vagon.Machine
	m.ID = vagon.ID(id)
	m.Attributes.FriendlyStatus = st
	if image != "" {
		m.Attributes.LatestImageStatus = &image
	}
	return m
}

func TestCheckInUse(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	api := &fakeSessions{
		by: map[string][]vagon.Session{
			"1": {session(t0.Add(2*time.Hour), false), session(t0, true)},
			"2": {session(t0, true)},
			"3": {session(t0, true)},
		},
		fail: map[string]bool{"4": true},
	}
	ms := []vagon.Machine{
		machineWith("1", vagon.StatusReady, "in_use"), // running session
		machineWith("2", vagon.StatusReady, "ready"),  // nobody connected
		machineWith("3", vagon.StatusReady, "in_use"), // only the image tells
		machineWith("4", vagon.StatusReady, ""),       // API error
		machineWith("5", vagon.StatusOff, "ready"),    // not checked: nothing to stop
	}
	res, skipped, err := fleet.CheckInUse(context.Background(), api, ms, 50, 8)
	if err == nil || skipped != 0 {
		t.Fatalf("err %v skipped %d, want the API error and none skipped", err, skipped)
	}
	if u := res["1"]; !u.Yes() || u.Since == nil || !u.Since.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("machine 1: %+v, want in use since the running session's start", u)
	}
	if u := res["2"]; u.Yes() || u.Unchecked {
		t.Errorf("machine 2: %+v, want not in use", u)
	}
	if u := res["3"]; !u.Yes() || u.Since != nil {
		t.Errorf("machine 3: %+v, want in use by the image, no since", u)
	}
	if u := res["4"]; u.Yes() || !u.Unchecked {
		t.Errorf("machine 4: %+v, want unchecked", u)
	}
	if _, ok := res["5"]; ok || api.calls != 4 {
		t.Errorf("an off machine was checked (calls %d)", api.calls)
	}
}

// TestCheckInUse_capped: beyond the cap no sessions are read (one API call
// per machine), at most workers at a time.
func TestCheckInUse_capped(t *testing.T) {
	t.Parallel()
	api := &fakeSessions{}
	var ms []vagon.Machine
	for i := range 60 {
		img := ""
		if i == 59 {
			img = "in_use"
		}
		ms = append(ms, machineWith(strconv.Itoa(i+1), vagon.StatusReady, img))
	}
	res, skipped, err := fleet.CheckInUse(context.Background(), api, ms, 50, 8)
	if err != nil {
		t.Fatal(err)
	}
	if api.calls != 50 || skipped != 10 {
		t.Errorf("calls %d skipped %d, want 50 and 10", api.calls, skipped)
	}
	if api.maxAtOnce > 8 {
		t.Errorf("%d reads at once, want at most 8", api.maxAtOnce)
	}
	if u := res["60"]; !u.Unchecked || !u.Yes() {
		t.Errorf("machine beyond the cap: %+v, want unchecked but in use by its image", u)
	}
	if u := res["51"]; !u.Unchecked || u.Yes() {
		t.Errorf("machine 51: %+v, want unchecked", u)
	}
}
