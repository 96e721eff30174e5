package fleet

import (
	"errors"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

func TestOutcomeOf(t *testing.T) {
	notRunning := vagon.CodeNotRunning
	tests := []struct {
		name     string
		res      *ActionResult
		err      error
		status   ActionStatus
		contains string
		code     *int
	}{
		{"no result", nil, errors.New("dial tcp: refused"), ActionFailed, "could not be reached", nil},
		{"done", &ActionResult{Action: ActMachineStart, Status: ActionDone, Message: "Started."}, nil, ActionDone, "Started.", nil},
		{"done, audit late", &ActionResult{Action: ActMachineStart, Status: ActionDone, Message: "Started.", AuditLate: true}, nil, ActionDone, "will be retried", nil},
		{"skipped", &ActionResult{Action: ActMachineStart, Status: ActionSkipped, Message: "Already running."}, nil, ActionSkipped, "Already running.", nil},
		{"unknown", &ActionResult{Action: ActMachineStop, Status: ActionUnknown, Message: "x"}, nil, ActionUnknown, UnknownOutcomeHint, nil},
		{"stop refused as not running", &ActionResult{Action: ActMachineStop, Status: ActionFailed, Message: "refused", ClientCode: notRunning}, nil, ActionSkipped, "nothing to stop", &notRunning},
		{"start refused as not running is a failure", &ActionResult{Action: ActMachineStart, Status: ActionFailed, Message: "refused", ClientCode: notRunning}, nil, ActionFailed, "refused", &notRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := OutcomeOf(tc.res, tc.err)
			if got.Status != tc.status || !strings.Contains(got.Message, tc.contains) {
				t.Fatalf("OutcomeOf = %+v, want %s containing %q", got, tc.status, tc.contains)
			}
			if (got.Code == nil) != (tc.code == nil) || (got.Code != nil && *got.Code != *tc.code) {
				t.Fatalf("code = %v, want %v", got.Code, tc.code)
			}
		})
	}
}
