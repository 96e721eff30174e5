package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// startScheduleTrigger runs due schedules every 5 s: ClaimDue, then Execute
// for every unfinished run (the ones just claimed, manual runs, and runs a
// dead process left).
//
// TEMPORARY until River wiring: the job queue's periodic job calls ClaimDue
// and enqueues one Execute job per run id instead; delete this file then.
func startScheduleTrigger(ctx context.Context, sched *fleet.Scheduler, log *slog.Logger) {
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			if _, err := sched.ClaimDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("schedules: claim due runs", "err", err.Error())
			}
			ids, err := sched.Unfinished(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("schedules: list unfinished runs", "err", err.Error())
			}
			for _, id := range ids {
				if err := sched.Execute(ctx, id); err != nil && !errors.Is(err, fleet.ErrRunBusy) && ctx.Err() == nil {
					log.Error("schedules: run", "run", id, "err", err.Error())
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
