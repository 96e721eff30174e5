package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/web"
)

// newSyncer builds the sessions syncer, publishing each pass to metrics.
func newSyncer(e *env, svc *fleet.Service, metrics *web.Metrics) *fleet.Syncer {
	return fleet.NewSyncer(svc.API(), e.store, fleet.SyncOptions{Log: e.log, OnResult: func(r fleet.SyncResult, err error) {
		if metrics == nil {
			return
		}
		result := "succeeded"
		if err != nil || r.Status != db.PassSucceeded {
			result = "failed"
		}
		metrics.SyncPasses.WithLabelValues(result).Inc()
		metrics.SyncMachines.WithLabelValues("done").Set(float64(r.MachinesDone))
		metrics.SyncMachines.WithLabelValues("failed").Set(float64(r.MachinesFailed))
		metrics.SyncSessions.WithLabelValues("new").Set(float64(r.SessionsNew))
		metrics.SyncSessions.WithLabelValues("updated").Set(float64(r.SessionsUpdated))
		metrics.SyncLastEnd.Set(float64(r.FinishedAt.Unix()))
	}})
}

// syncOnce runs one pass of every import (the sessions sync, then Vagon's
// activity log) and prints what each did.
func syncOnce(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	e, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	api, err := apiClient(ctx, e, nil)
	if err != nil {
		return err
	}
	s := newSyncer(e, fleet.NewService(api, e.store, fleet.ServiceOptions{Log: e.log}), nil)
	r, err := s.RunOnce(ctx)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	fmt.Fprintf(stdout, "sync pass %d: %d machines (%d failed), %d sessions new, %d updated, in %s\n",
		r.PassID, r.Machines, r.MachinesFailed, r.SessionsNew, r.SessionsUpdated, r.Duration().Round(time.Millisecond))
	for _, f := range r.Failed {
		fmt.Fprintf(stdout, "  failed: machine %s: %s\n", f.ID, f.Error)
	}
	if more := r.MachinesFailed - len(r.Failed); more > 0 {
		fmt.Fprintf(stdout, "  failed: %d more machines (the first %d are named)\n", more, len(r.Failed))
	}
	a, err := fleet.NewActivityImporter(api, e.store, fleet.ActivityOptions{Log: e.log}).RunOnce(ctx)
	if err != nil {
		return fmt.Errorf("activity import: %w", err)
	}
	fmt.Fprintf(stdout, "activity import: %s to %s, %d entries read in %d calls, %d new, in %s\n",
		a.From.UTC().Format(time.RFC3339), a.To.UTC().Format(time.RFC3339), a.Fetched, a.Calls, a.New, a.Duration().Round(time.Millisecond))
	if a.Truncated > 0 {
		fmt.Fprintf(stdout, "  warning: %d one-second windows held 1000 entries; some may be missing\n", a.Truncated)
	}
	return nil
}
