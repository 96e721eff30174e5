package web

import (
	"errors"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// auditLate ends a message about an action whose outcome row is late.
const auditLate = " Its record in the audit log failed and will be written when the database answers again."

// explainAuditOutcome words the two results of the audited-action protocol
// that are not the API's errors: no answer in time (the action may have
// happened) and an outcome row that could not be written yet.
func explainAuditOutcome(err error) (string, bool) {
	var notRecorded *fleet.OutcomeNotRecordedError
	if errors.As(err, &notRecorded) {
		if notRecorded.CallErr == nil {
			return "It was done at Vagon." + auditLate, true
		}
		return explainAPIError(notRecorded.CallErr) + auditLate, true
	}
	var unknown *fleet.UnknownOutcomeError
	if errors.As(err, &unknown) {
		return unknownOutcomeText(unknown.Action), true
	}
	return "", false
}

// unknownOutcomeText tells what to check after a call Vagon did not answer
// in time: it may have happened, so "try again" could do it twice.
func unknownOutcomeText(action string) string {
	switch action {
	case fleet.ActMachineStart:
		return "Vagon did not answer in time; the machine may be starting. Check its status before trying again."
	case fleet.ActMachineStop:
		return "Vagon did not answer in time; the machine may be stopping. Check its status before trying again."
	case fleet.ActMachineReset:
		return "Vagon did not answer in time; the machine may be resetting. Check its status before trying again."
	case fleet.ActMachineCreate:
		return "Vagon did not answer in time; the machines may have been created. Check the fleet list before trying again."
	}
	return "Vagon did not answer in time, so it is not known whether the change was made. Check the machine before trying again."
}

// doneButNotRecorded reports an action that succeeded at Vagon whose
// outcome row is only late (spooled): for the user it is done.
func doneButNotRecorded(err error) bool {
	var notRecorded *fleet.OutcomeNotRecordedError
	return errors.As(err, &notRecorded) && notRecorded.CallErr == nil
}
