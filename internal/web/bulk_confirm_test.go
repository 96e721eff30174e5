package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// A bulk confirmation is single-use too: several submits of it at once (a
// double click on the plain form, two tabs) store one operation, and the
// repeats are sent to that operation.
func TestBulk_confirmationSingleUse(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 10} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t) // no runner: stored operations stay queued, so they can be counted
			withBulkQueue(t, app)
			c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))
			resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"start"}, "machine_id": app.Sim.MachineIDs()[:2]})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("review: %d", resp.StatusCode)
			}
			fields := confirmFields(t, doc, "bulk-confirm-form")
			if !validConfirmToken(fields.Get("token")) {
				t.Fatalf("confirmation form token %q", fields.Get("token"))
			}
			fields.Set("_csrf", c.CSRF)
			body := fields.Encode()

			locs := make([]string, n)
			statuses := make([]int, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					req, _ := http.NewRequest(http.MethodPost, c.base+"/bulk", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := c.http.Do(req)
					if err != nil {
						errs[i] = err
						return
					}
					resp.Body.Close()
					statuses[i], locs[i] = resp.StatusCode, resp.Header.Get("Location")
				}()
			}
			close(start)
			wg.Wait()

			ops, err := unfinishedBulkOps(app.Store)
			if err != nil {
				t.Fatal(err)
			}
			if len(ops) != 1 {
				t.Fatalf("%d submits of one confirmation stored %d operations, want 1", n, len(ops))
			}
			want := "/bulk/" + strconv.FormatInt(ops[0], 10)
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("submit %d: %v", i, errs[i])
				}
				if !(statuses[i] == http.StatusSeeOther && locs[i] == want) && statuses[i] != http.StatusConflict {
					t.Errorf("submit %d: status %d Location %q", i, statuses[i], locs[i])
				}
			}
			// Later, the same confirmation again: to the operation, with a word.
			resp, _ = c.PostForm(t, "/bulk", fields)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
				t.Fatalf("replay: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			_, doc = c.Get(t, want)
			if !strings.Contains(doc.Find(testID("flash")).Text(), "already used") {
				t.Fatalf("replay flash %q", doc.Find(testID("flash")).Text())
			}
			if ops, _ := unfinishedBulkOps(app.Store); len(ops) != 1 {
				t.Fatalf("after the replay: %d operations", len(ops))
			}
		})
	}
}
