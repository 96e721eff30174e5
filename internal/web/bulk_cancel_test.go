package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// submitBulkStart posts both steps of a bulk start of ids and returns the
// operation's id.
func submitBulkStart(t *testing.T, c *client, ids []string) int64 {
	t.Helper()
	resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"start"}, "machine_id": ids})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review: %d", resp.StatusCode)
	}
	fields := confirmFields(t, doc, "bulk-confirm-form")
	fields.Set("_csrf", c.CSRF)
	resp, _ = c.PostForm(t, "/bulk", fields)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/bulk/") {
		t.Fatalf("submit: %d %q", resp.StatusCode, loc)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/bulk/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBulk_cancel(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	b, q := withBulkQueue(t, app) // queued, not running yet
	ids := app.Sim.MachineIDs()[:4]
	for _, id := range ids {
		if err := app.Sim.SetStatus(id, vagon.StatusOff); err != nil {
			t.Fatal(err)
		}
		_ = app.Sim.SetRemainingUsage(id, 600)
	}
	owner := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))
	other := app.Login(t, "op2@example.com", app.CreateUser(t, "op2@example.com", fleet.RoleOperator))
	id := submitBulkStart(t, owner, ids)
	page := "/bulk/" + strconv.FormatInt(id, 10)

	// The owner sees the button; another operator neither sees nor may use it.
	if _, doc := owner.Get(t, page); doc.Find(testID("bulk-cancel")).Length() != 1 {
		t.Fatal("the owner has no Cancel button")
	}
	if _, doc := other.Get(t, page); doc.Find(testID("bulk-cancel")).Length() != 0 {
		t.Fatal("another operator has a Cancel button")
	}
	if resp, _ := other.PostForm(t, page+"/cancel", url.Values{"_csrf": {other.CSRF}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another operator's cancel: %d, want 403", resp.StatusCode)
	}
	if resp, _ := owner.PostRaw(t, page+"/cancel", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cancel without CSRF: %d, want 403", resp.StatusCode)
	}

	resp, _ := owner.PostForm(t, page+"/cancel", url.Values{"_csrf": {owner.CSRF}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("cancel: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, err := b.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts.Skipped != 4 || !strings.Contains(st.Items[0].Message, "Cancelled by op@example.com") {
		t.Fatalf("after cancel: counts %+v, first item %+v", st.Counts, st.Items[0])
	}
	if resp, _ := owner.PostForm(t, page+"/cancel", url.Values{"_csrf": {owner.CSRF}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second cancel: %d", resp.StatusCode)
	}

	// The job runs, closes the operation without calling Vagon, and ends
	// cancelled.
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	waitBulkDone(t, b, id)
	if n := app.Sim.Count("POST /machines/{id}/start"); n != 0 {
		t.Fatalf("%d starts sent after the cancel", n)
	}
	st, _ = b.Get(context.Background(), id)
	if st.Op.Status != db.BulkSucceeded || st.Counts.Skipped != 4 {
		t.Fatalf("finished op: %s %+v", st.Op.Status, st.Counts)
	}
	var job *rivertype.JobRow
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := q.Client().JobList(context.Background(), river.NewJobListParams().Kinds("bulk_op"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) == 1 && res.Jobs[0].State == rivertype.JobStateCancelled {
			job = res.Jobs[0]
			break
		}
	}
	if job == nil {
		t.Fatal("the operation's job did not end cancelled")
	}
	var cancels, outcomes int
	for _, ev := range app.AuditRows(t) {
		switch {
		case ev.Action == fleet.ActBulkCancel && ev.Outcome == db.OutcomeSucceeded && ev.ActorEmail == "op@example.com":
			cancels++
		case ev.Action == fleet.ActBulk && ev.Outcome == db.OutcomeSucceeded && strings.Contains(ev.Message, "cancelled by op@example.com"):
			outcomes++
		}
	}
	if cancels != 1 || outcomes != 1 {
		t.Fatalf("audit: %d bulk.cancel succeeded rows, %d bulk.run outcome rows naming the cancel; want 1 and 1", cancels, outcomes)
	}
	if _, doc := owner.Get(t, page); doc.Find(testID("bulk-cancel")).Length() != 0 || !strings.Contains(doc.Find(testID("bulk-cancelled")).Text(), "op@example.com") {
		t.Fatal("the finished page still offers Cancel or does not say who cancelled")
	}
}
