package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// This file is the one home of the dashboard's vocabulary: roles and their
// order, permission keys and labels, the machine-id rule and the words that
// explain an API error. The web handlers, the bulk runner and schedules use
// these; views get them through view models (views imports nothing here).

// Roles, lowest to highest. The names are the ones INTERFACES.md defines.
const (
	RoleViewer   = "viewer"
	RoleHelpdesk = "helpdesk"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles lists every role from lowest to highest, for role selects.
var Roles = []string{RoleViewer, RoleHelpdesk, RoleOperator, RoleAdmin}

// RoleRank returns the role's position in viewer < helpdesk < operator <
// admin, starting at 1, or 0 for an unknown role.
func RoleRank(role string) int {
	for i, r := range Roles {
		if r == role {
			return i + 1
		}
	}
	return 0
}

// RoleAtLeast reports whether role is min or above it. An unknown role or an
// unknown min is never enough.
func RoleAtLeast(role, min string) bool {
	r, m := RoleRank(role), RoleRank(min)
	return r > 0 && m > 0 && r >= m
}

// Permission names one machine permission: its API key, a label and a
// sentence of help. In the Permissions table only those three are set;
// PermissionFields (the API's list) also fills Type and Default.
type Permission struct {
	Key, Label, Help string
	// Type is the API's type for the key ("boolean"; empty when unknown).
	Type string
	// Default is the value the API gives a new machine.
	Default bool
}

// Known reports whether the dashboard can read and change this key: one of
// the seven vagon.Permissions carries. Other keys the API lists are shown,
// not changed.
func (p Permission) Known() bool { return slices.Contains(vagon.PermissionKeys, p.Key) }

// Permissions are the seven machine permissions in the API's documented
// order: the one table of their labels (machine page, bulk form, create
// form, audit words).
var Permissions = []Permission{
	{Key: vagon.PermPublicInternetAccess, Label: "Public internet access", Help: "The machine can reach the internet."},
	{Key: vagon.PermCanDownload, Label: "Download from the machine", Help: "Files can be downloaded from the machine to the user's computer."},
	{Key: vagon.PermCanUpload, Label: "Upload to the machine", Help: "The user may upload files to the machine."},
	{Key: vagon.PermAnalyticsCollection, Label: "Analytics collection", Help: "Usage analytics are collected on the machine."},
	{Key: vagon.PermClipboard, Label: "Clipboard sharing", Help: "Copy and paste between the user's computer and the machine."},
	{Key: vagon.PermScreenRecording, Label: "Screen recording", Help: "Sessions are recorded on screen."},
	{Key: vagon.PermInputRecording, Label: "Input recording", Help: "Keyboard and mouse input is recorded."},
}

// PermissionLabel names a permission by its API key; an unknown key is
// returned as it is.
func PermissionLabel(key string) string {
	for _, p := range Permissions {
		if p.Key == key {
			return p.Label
		}
	}
	return key
}

// ValidMachineID reports whether id can be a Vagon machine id. The API
// documents the {id} path parameter as an Integer (machines-api.md), and
// ids are positive: so a decimal number without sign or leading zero that
// fits in an int64 (ValidID). Web routes and bulk use this one rule, so a
// bad id is refused before any API call.
func ValidMachineID(id string) bool { return ValidID(id) }

// ValidID reports whether id can be one of the API's integer ids (a
// machine, a task, a machine type): a positive decimal number without sign
// or leading zero that fits in an int64.
func ValidID(id string) bool {
	if id == "" || len(id) > 19 || id[0] == '0' {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(id, 10, 64)
	return err == nil
}

// AuditLateNote ends a message about an action whose outcome row is late.
const AuditLateNote = " Its record in the audit log failed and will be written when the database answers again."

// AuditUnavailableText says an action was refused because its started row
// could not be written.
const AuditUnavailableText = "The audit log could not be written, so nothing was sent to Vagon."

// UnknownOutcomeText tells what to check after a call of action that Vagon
// did not answer in time: it may have happened, so "try again" could do it
// twice.
func UnknownOutcomeText(action string) string {
	switch action {
	case ActMachineStart:
		return "Vagon did not answer in time; the machine may be starting. Check its status before trying again."
	case ActMachineStop:
		return "Vagon did not answer in time; the machine may be stopping. Check its status before trying again."
	case ActMachineReset:
		return "Vagon did not answer in time; the machine may be resetting. Check its status before trying again."
	case ActMachineCreate:
		return "Vagon did not answer in time; the machines may have been created. Check the fleet list before trying again."
	}
	return UnknownOutcomeHint
}

// ClientCode is the API's client_code of err (its HTTP status when the
// answer had none), 0 when err is not an API answer.
func ClientCode(err error) int {
	e, ok := vagon.AsError(err)
	if !ok {
		return 0
	}
	if e.Code != 0 {
		return e.Code
	}
	return e.HTTPStatus
}

// ExplainAPIError turns the error of an API call (or of the audited-action
// protocol around one) into words a person can act on, ending with the
// API's client_code. It is the one set of these words: the pages, the bulk
// runner and schedules all show them.
func ExplainAPIError(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrAuditUnavailable) {
		return AuditUnavailableText
	}
	var notRecorded *OutcomeNotRecordedError
	if errors.As(err, &notRecorded) {
		if notRecorded.CallErr == nil {
			return "It was done at Vagon." + AuditLateNote
		}
		return ExplainAPIError(notRecorded.CallErr) + AuditLateNote
	}
	var unknown *UnknownOutcomeError
	if errors.As(err, &unknown) {
		return UnknownOutcomeText(unknown.Action)
	}
	if errors.Is(err, ErrMachineNotFound) {
		return "There is no machine with this id in the fleet. It may have been removed; reload the list."
	}
	e, ok := vagon.AsError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "context deadline exceeded") {
			return "The Vagon API did not answer in time. Try again in a moment."
		}
		return "The Vagon API could not be reached. Check the network and try again."
	}
	var what string
	switch e.Code {
	case vagon.CodeBadRequest:
		what = "Vagon refused a value in the request. Check the form and try again."
	case vagon.CodeUnauthorized:
		what = "Vagon refused the dashboard's API key or signature. An admin should check VAGON_API_KEY and VAGON_API_SECRET, and the server clock."
	case vagon.CodeNotFound:
		what = "Vagon does not know this machine, plan or task. It may have been removed; reload the list."
	case vagon.CodeInsufficientBalance:
		what = "The organization's balance is too low. Add balance in the Vagon dashboard, then try again."
	case vagon.CodeNotReady:
		what = "The machine is not ready for this yet. Wait until it has settled, then try again."
	case vagon.CodeRegionRequired:
		what = "Choose a region: the account has no default region."
	case vagon.CodeNotRunning:
		what = "The machine is not running, so it can't be stopped."
	case vagon.CodeTypeUnavailable:
		what = "That performance type is not available in this machine's plan. Pick one from the list."
	case vagon.CodeRunning:
		what = "The machine must be off for this. Stop it first, wait until it is off, then try again."
	case vagon.CodeInvalidUID:
		what = `The task name is not valid: use 1 to 255 characters without \ / : * ? " < > |.`
	case vagon.CodeUIDReused:
		what = "This task name was deleted before and can't be reused (until the machine is reset). Choose another name."
	case vagon.CodeBackupDisabled:
		what = "Backup is not enabled for this seat, so tasks can't be changed. Enable backup in Vagon first."
	case vagon.CodeOutputsTask:
		what = "The default Outputs task can't be deleted."
	case vagon.CodePermissionRequired:
		what = "The dashboard's API key lacks the permission for this. An admin should grant it in Vagon's Settings."
	case 429:
		what = "Vagon is rate-limiting the dashboard. Wait a moment and try again."
	default:
		if e.HTTPStatus >= 500 || e.Code >= 500 {
			what = "Vagon had a temporary problem. Try again in a moment."
		} else {
			what = "Vagon refused the request."
		}
	}
	msg := what + fmt.Sprintf(" (Vagon code %d", ClientCode(err))
	if e.Message != "" && !strings.HasPrefix(e.Message, "non-JSON") {
		msg += ": " + truncateRunes(e.Message, 200)
	}
	return msg + ")"
}
