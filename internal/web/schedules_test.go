package web

// Issue 10: schedule pages. Everyone reads; operators change; a stale edit
// gets a conflict; run now twice is one run.

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

func testScheduleForm(machineID string) url.Values {
	return url.Values{"name": {"Mornings"}, "action": {"start"}, "machine_id": {machineID},
		"days": {"mon", "tue", "wed", "thu", "fri"}, "at": {"07:30"}, "timezone": {"Europe/Berlin"},
		"skip_dates": {"2030-12-25, 2030-12-26"}, "enabled": {"true"}}
}

func createScheduleVia(t *testing.T, c *client, form url.Values) int64 {
	t.Helper()
	c.CSRFFrom(t, "/schedules/new")
	resp, doc := c.PostForm(t, "/schedules", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: status %d: %s", resp.StatusCode, doc.Find(".field-error").Text())
	}
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/schedules/"), 10, 64)
	if err != nil {
		t.Fatalf("create redirected to %q", loc)
	}
	return id
}

func TestSchedules_createShowList(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	mid := app.MachineID(t)
	id := createScheduleVia(t, op, testScheduleForm(mid))

	_, doc := op.Get(t, "/schedules")
	if n := doc.Find(`[data-testid="schedule-row"]`).Length(); n != 1 {
		t.Fatalf("%d rows in the list", n)
	}
	if doc.Find(`[data-testid="schedule-next"] time`).Length() != 1 {
		t.Errorf("the list shows no next run")
	}
	resp, doc := op.Get(t, "/schedules/"+strconv.FormatInt(id, 10))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("detail status %d", resp.StatusCode)
	}
	if n := doc.Find(`[data-testid="schedule-next-run"]`).Length(); n != 5 {
		t.Errorf("%d next runs shown, want 5", n)
	}
	if doc.Find(`[data-testid="schedule-edit"] input[name="version"]`).AttrOr("value", "") != "1" {
		t.Errorf("the edit form does not carry version 1")
	}
	// The machine page lists it.
	_, doc = op.Get(t, "/machines/"+mid)
	if !strings.Contains(doc.Find(`[data-testid="machine-schedules"]`).Text(), "Mornings") {
		t.Errorf("machine page card: %q", doc.Find(`[data-testid="machine-schedules"]`).Text())
	}
	evs := app.AuditRows(t)
	found := false
	for _, ev := range evs {
		found = found || (ev.Action == fleet.ActScheduleCreate && ev.Outcome == db.OutcomeSucceeded)
	}
	if !found {
		t.Errorf("no schedule.create succeeded row")
	}
}

func TestSchedules_formErrorsKeepInput(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	form := testScheduleForm(app.MachineID(t))
	form.Set("at", "25:00")
	form.Set("timezone", "Mars/Base")
	op.CSRFFrom(t, "/schedules/new")
	resp, doc := op.PostForm(t, "/schedules", form)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, f := range []string{"at", "timezone"} {
		if doc.Find(`[data-testid="`+f+`-error"]`).Length() != 1 {
			t.Errorf("no error next to %s", f)
		}
	}
	if doc.Find(`[data-testid="schedule-name"]`).AttrOr("value", "") != "Mornings" ||
		doc.Find(`[data-testid="schedule-timezone"]`).AttrOr("value", "") != "Mars/Base" ||
		doc.Find(`[data-testid="schedule-skip-dates"]`).AttrOr("value", "") != "2030-12-25, 2030-12-26" {
		t.Errorf("typed values lost")
	}
	if list, _ := app.Store.ListSchedules(context.Background()); len(list) != 0 {
		t.Errorf("a bad form stored a schedule")
	}
}

func TestSchedules_viewerReadsButMayNotChange(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	id := createScheduleVia(t, op, testScheduleForm(app.MachineID(t)))
	path := "/schedules/" + strconv.FormatInt(id, 10)
	for _, role := range []string{"viewer", "helpdesk"} {
		v := app.Login(t, role+"@example.com", app.CreateUser(t, role+"@example.com", role))
		resp, doc := v.Get(t, path)
		if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="schedule-run-now"]`).Length() != 0 || doc.Find(`[data-testid="schedule-edit"]`).Length() != 0 {
			t.Fatalf("%s: detail status %d, or offers changes", role, resp.StatusCode)
		}
		for _, p := range []string{"/schedules", path, path + "/delete", path + "/run"} {
			form := testScheduleForm("101")
			if resp, _ := v.PostForm(t, p, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: POST %s status %d, want 403", role, p, resp.StatusCode)
			}
		}
		if resp, _ := v.Get(t, "/schedules/new"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: GET /schedules/new status %d", role, resp.StatusCode)
		}
	}
	if list, _ := app.Store.ListSchedules(context.Background()); len(list) != 1 || list[0].Name != "Mornings" {
		t.Fatalf("schedules changed: %+v", list)
	}
	if runs, _ := app.Store.ScheduleRuns(context.Background(), id, 10); len(runs) != 0 {
		t.Fatalf("a refused run now made a run")
	}
}

func TestSchedules_staleEditGetsConflict(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	id := createScheduleVia(t, op, testScheduleForm(app.MachineID(t)))
	path := "/schedules/" + strconv.FormatInt(id, 10)
	form := testScheduleForm(app.MachineID(t))
	form.Set("version", "1")
	form.Set("name", "First tab")
	if resp, _ := op.PostForm(t, path, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first save status %d", resp.StatusCode)
	}
	form.Set("name", "Second tab") // still version 1
	resp, doc := op.PostForm(t, path, form)
	if resp.StatusCode != http.StatusConflict || doc.Find(`[data-testid="schedule-conflict"]`).Length() != 1 {
		t.Fatalf("stale save status %d", resp.StatusCode)
	}
	if doc.Find(`[data-testid="schedule-name"]`).AttrOr("value", "") != "Second tab" {
		t.Errorf("the stale form lost what was typed")
	}
	sc, _ := app.Store.Schedule(context.Background(), id)
	if sc.Name != "First tab" {
		t.Fatalf("stored name %q: the stale form overwrote", sc.Name)
	}
	// Enable/disable carries the version too.
	if resp, _ := op.PostForm(t, path, url.Values{"set_enabled": {"false"}, "version": {"2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable status %d", resp.StatusCode)
	}
	if sc, _ := app.Store.Schedule(context.Background(), id); sc.Enabled {
		t.Fatalf("still enabled")
	}
}

func TestSchedules_runNowTwiceIsOneRunAndDelete(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	id := createScheduleVia(t, op, testScheduleForm(app.MachineID(t)))
	path := "/schedules/" + strconv.FormatInt(id, 10)
	op.CSRFFrom(t, path)
	resp, doc := op.PostHTMX(t, path+"/run", nil)
	if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="schedule-run"]`).Length() != 1 || doc.Find(`#toasts`).Length() == 0 && !strings.Contains(doc.Text(), "Run started") {
		t.Fatalf("run now status %d: %s", resp.StatusCode, doc.Text())
	}
	if doc.Find(`#schedule-runs[hx-get]`).Length() != 1 {
		t.Errorf("the history does not poll while the run is unfinished")
	}
	_, doc = op.PostHTMX(t, path+"/run", nil)
	if !strings.Contains(doc.Text(), "already running") {
		t.Errorf("second click: %q", doc.Text())
	}
	if runs, _ := app.Store.ScheduleRuns(context.Background(), id, 10); len(runs) != 1 {
		t.Fatalf("%d runs after a double click, want 1", len(runs))
	}
	// Without a token, delete asks: the question names the schedule, its
	// action and targets and the run its history holds, and deletes nothing.
	resp, doc = op.PostForm(t, path+"/delete", nil)
	q := doc.Find(`[data-testid="schedule-delete-confirmation"]`)
	if resp.StatusCode != http.StatusOK || q.Length() != 1 {
		t.Fatalf("delete without a token: status %d, %d questions", resp.StatusCode, q.Length())
	}
	for _, want := range []string{"“Mornings”", "Start", "machine #", "1 run", "Machines are not touched"} {
		if !strings.Contains(q.Text(), want) {
			t.Errorf("the question %q does not say %q", q.Text(), want)
		}
	}
	if _, ok := q.Find(`[data-testid="schedule-delete-confirm"]`).Attr("autofocus"); !ok {
		t.Errorf("the confirm button does not take the focus")
	}
	if q.Find(`[data-testid="schedule-delete-keep"]`).AttrOr("data-focus-after", "") != "schedule-delete" {
		t.Errorf("Keep it does not return the focus to Delete")
	}
	if _, err := app.Store.Schedule(context.Background(), id); err != nil {
		t.Fatalf("asking deleted: %v", err)
	}
	token := q.Find(`input[name="token"]`).AttrOr("value", "")
	resp, _ = op.PostForm(t, path+"/delete", url.Values{"token": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/schedules" {
		t.Fatalf("confirmed delete: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := app.Store.Schedule(context.Background(), id); err == nil {
		t.Fatalf("not deleted")
	}
	if runs, _ := app.Store.ScheduleRuns(context.Background(), id, 10); len(runs) != 0 {
		t.Errorf("the history stayed: %d runs", len(runs))
	}
	if _, doc := op.Get(t, "/schedules"); !strings.Contains(doc.Text(), "“Mornings” deleted") {
		t.Errorf("no flash on the list after the delete")
	}
	if resp, _ := op.Get(t, path); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted schedule page status %d", resp.StatusCode)
	}
	// The same confirmation again (a reload, another tab): already deleted,
	// nothing else.
	resp, doc = op.PostHTMX(t, path+"/delete", url.Values{"token": {token}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="toast"]`).Text(), "already deleted") {
		t.Errorf("second submit: status %d: %q", resp.StatusCode, doc.Text())
	}
	deletes := 0
	for _, ev := range app.AuditRows(t) {
		if ev.Action == fleet.ActScheduleDelete && ev.Outcome == db.OutcomeSucceeded {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("%d succeeded schedule.delete audit rows, want 1", deletes)
	}
}

// TestSchedules_deleteHTMX: with htmx the question replaces the actions,
// Keep it brings them back, the confirmed delete replaces the page with a
// notice and a toast; a forged token-less confirm only asks again.
func TestSchedules_deleteHTMX(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	id := createScheduleVia(t, op, testScheduleForm(app.MachineID(t)))
	path := "/schedules/" + strconv.FormatInt(id, 10)
	op.CSRFFrom(t, path)
	resp, doc := op.PostHTMX(t, path+"/delete", nil)
	if resp.StatusCode != http.StatusOK || doc.Find(`#schedule-actions [data-testid="schedule-delete-confirmation"]`).Length() != 1 ||
		doc.Find(`[data-testid="schedule-edit"]`).Length() != 0 {
		t.Fatalf("htmx ask: status %d: %q", resp.StatusCode, doc.Text())
	}
	if !strings.Contains(doc.Text(), "no runs in its history") {
		t.Errorf("the question does not say the history is empty: %q", doc.Text())
	}
	token := doc.Find(`input[name="token"]`).AttrOr("value", "")
	if !validConfirmToken(token) {
		t.Fatalf("token %q", token)
	}
	req, _ := http.NewRequest(http.MethodGet, op.base+path+"?part=actions", nil)
	req.Header.Set("HX-Request", "true")
	if resp, doc := op.Do(t, req); resp.StatusCode != http.StatusOK || doc.Find(`#schedule-actions [data-testid="schedule-delete"]`).Length() != 1 {
		t.Fatalf("keep it: status %d: %q", resp.StatusCode, doc.Text())
	}
	resp, doc = op.PostHTMX(t, path+"/delete", url.Values{"token": {token}})
	if resp.StatusCode != http.StatusOK || doc.Find(`#schedule-page [data-testid="schedule-deleted"]`).Length() != 1 {
		t.Fatalf("htmx delete: status %d: %q", resp.StatusCode, doc.Text())
	}
	if toast := doc.Find(`[hx-swap-oob] [data-testid="toast"]`); toast.AttrOr("data-kind", "") != "success" || !strings.Contains(toast.Text(), "Mornings") {
		t.Errorf("toast: %q", toast.Text())
	}
	if _, err := app.Store.Schedule(context.Background(), id); err == nil {
		t.Fatalf("not deleted")
	}
	// A fresh confirmation for a schedule someone else already deleted.
	resp, doc = op.PostForm(t, path+"/delete", url.Values{"token": {newConfirmToken()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("deleted by someone else: status %d", resp.StatusCode)
	}
	if _, doc := op.Get(t, "/schedules"); !strings.Contains(doc.Text(), "already deleted") {
		t.Errorf("no already-deleted flash: %q", doc.Text())
	}
}

// TestSchedules_csv: the list and one schedule's history as CSV, for every
// role that reads them; a name that a spreadsheet would run as a formula
// comes out as text.
func TestSchedules_csv(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	op := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", "operator"))
	mid := app.MachineID(t)
	form := testScheduleForm(mid)
	form.Set("name", `=HYPERLINK("http://evil.example","x")`)
	id := createScheduleVia(t, op, form)
	path := "/schedules/" + strconv.FormatInt(id, 10)
	op.CSRFFrom(t, path)
	if resp, _ := op.PostHTMX(t, path+"/run", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("run now status %d", resp.StatusCode)
	}
	if _, doc := op.Get(t, "/schedules"); doc.Find(`a[data-testid="schedules-csv"][href="/schedules.csv"]`).Length() != 1 {
		t.Errorf("the list does not link its CSV")
	}
	if _, doc := op.Get(t, path); doc.Find(`a[data-testid="schedule-runs-csv"][href="`+path+`/runs.csv"]`).Length() != 1 {
		t.Errorf("the detail page does not link its history CSV")
	}
	viewer := app.Login(t, "v@example.com", app.CreateUser(t, "v@example.com", "viewer"))

	resp, _ := viewer.Get(t, "/schedules.csv")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("GET /schedules.csv: status %d, %q, %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	recs := readCSV(t, resp)
	wantHead := "id,name,action,gracefully,targets,days,at,timezone,skip_dates,skip_active_sessions,enabled,next_run,owner_email"
	if len(recs) != 2 || strings.Join(recs[0], ",") != wantHead {
		t.Fatalf("schedules.csv: %q", recs)
	}
	row := recs[1]
	if row[0] != strconv.FormatInt(id, 10) || row[1] != `'=HYPERLINK("http://evil.example","x")` || row[2] != "start" ||
		row[4] != mid || row[5] != "mon tue wed thu fri" || row[6] != "07:30" || row[7] != "Europe/Berlin" ||
		row[8] != "2030-12-25 2030-12-26" || row[9] != "false" || row[10] != "true" || row[12] != "op@example.com" {
		t.Errorf("schedules.csv row: %q", row)
	}
	if next, err := time.Parse(time.RFC3339, row[11]); err != nil || !strings.HasSuffix(row[11], "Z") || !next.After(time.Now()) {
		t.Errorf("next_run %q: not a future UTC RFC 3339 time (%v)", row[11], err)
	}

	resp, _ = viewer.Get(t, path+"/runs.csv")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET runs.csv: status %d", resp.StatusCode)
	}
	recs = readCSV(t, resp)
	if len(recs) < 2 || strings.Join(recs[0], ",") != "run_id,trigger,due_at,state,machine_id,machine_name,outcome,message,error_code" {
		t.Fatalf("runs.csv: %q", recs)
	}
	runs, _ := app.Store.ScheduleRuns(context.Background(), id, 10)
	if len(runs) != 1 || recs[1][0] != strconv.FormatInt(runs[0].ID, 10) || recs[1][1] != "manual" {
		t.Errorf("runs.csv first row %q, runs %+v", recs[1], runs)
	}
	if _, err := time.Parse(time.RFC3339, recs[1][2]); err != nil {
		t.Errorf("due_at %q: %v", recs[1][2], err)
	}
	if resp, _ := viewer.Get(t, "/schedules/999999/runs.csv"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("runs.csv of a missing schedule: status %d", resp.StatusCode)
	}
}

func readCSV(t *testing.T, resp *http.Response) [][]string {
	t.Helper()
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("read csv: %v", err)
	}
	return recs
}
