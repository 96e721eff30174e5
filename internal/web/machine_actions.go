package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Input limits of the machine actions.
const (
	maxAccessMinutes = 43_200 // 30 days
	maxNoteLen       = 500
	maxConfirmLen    = 300
)

// outcome is what an action handler hands to answerAction.
type outcome struct {
	section string
	// status: 200 done (or nothing to do), 422 bad input, 409 refused by
	// the machine's state, or the API error's status.
	status int
	flash  views.Flash
	// form puts the submitted values and field errors into the view.
	form func(v *views.MachinePageView)
	// changed is set when the API was called (the cached lists are dropped
	// and the machine is read again).
	changed bool
	// ask answers with the page (not a redirect) also without htmx: the
	// outcome is a question to answer there.
	ask bool
}

// answerAction answers an action: for htmx the section's fragment, the
// overview out of band and the flash; otherwise a 303 back to the machine
// page with the flash, or (bad input) the page with the errors by the
// fields.
func (s *Server) answerAction(c echo.Context, m *vagon.Machine, o outcome) error {
	if o.changed {
		s.fleet.Invalidate(m.ID)
		if fresh, err := s.loadMachine(c); err == nil {
			m = fresh
		}
	}
	htmx := isHTMX(c)
	if !htmx && o.status != http.StatusUnprocessableEntity && !o.ask {
		if o.flash.Text != "" {
			s.addFlash(c, o.flash.Kind, o.flash.Text)
		}
		anchor := "#section-" + o.section
		if o.section == "overview" {
			anchor = "#machine-overview"
		}
		// done= puts the flash into the section on the page it lands on.
		to := views.MachinePath(string(m.ID), m.Attributes.Name)
		if strings.Contains(to, "?") {
			to += "&done=" + o.section
		} else {
			to += "?done=" + o.section
		}
		return c.Redirect(http.StatusSeeOther, to+anchor)
	}
	pt := partsFor(o.section)
	if !htmx {
		pt = allParts
	}
	v := s.machinePage(c, m, pt)
	if o.form != nil {
		o.form(&v)
	}
	p := s.page(c, m.Attributes.Name, views.NavMachines)
	var flashes []views.Flash
	if o.flash.Text != "" {
		flashes = append(flashes, o.flash)
		v.Outcome = &views.SectionOutcome{Section: o.section, Kind: o.flash.Kind, Text: o.flash.Text}
	}
	if !htmx {
		p.Flashes = append(p.Flashes, flashes...)
		return render(c, o.status, views.MachinePage(p, v))
	}
	return render(c, o.status, views.MachineActionResult(p, v, o.section, flashes))
}

// actionOutcome turns the result of a fleet action into an outcome: done
// as success, skipped as a note (or a refusal by the state rule), an
// unknown outcome as what to check, a failure as the one explanation with
// a fitting status. An audit log that cannot be written is the error page.
func actionOutcome(section string, res *fleet.ActionResult, err error, success string) (outcome, error) {
	if errors.Is(err, fleet.ErrAuditUnavailable) {
		return outcome{}, err
	}
	if res == nil {
		return outcome{}, err
	}
	late := ""
	if res.AuditLate {
		late = fleet.AuditLateNote
	}
	switch res.Status {
	case fleet.ActionDone:
		if late != "" {
			return outcome{section: section, status: http.StatusOK, flash: views.Flash{Kind: views.FlashInfo, Text: success + late}, changed: true}, nil
		}
		return outcome{section: section, status: http.StatusOK, flash: views.Flash{Kind: views.FlashSuccess, Text: success}, changed: true}, nil
	case fleet.ActionSkipped:
		if res.Refused {
			return refused(section, res.Message), nil
		}
		return outcome{section: section, status: http.StatusOK, flash: views.Flash{Kind: views.FlashInfo, Text: res.Message + late}}, nil
	case fleet.ActionUnknown:
		return outcome{section: section, status: http.StatusGatewayTimeout, flash: views.Flash{Kind: views.FlashError, Text: res.Message + late}, changed: true}, nil
	}
	return outcome{section: section, status: apiStatus(err), flash: views.Flash{Kind: views.FlashError, Text: res.Message + late}, changed: true}, nil
}

// apiOutcome is actionOutcome for an API read that failed before any
// action (err is not nil).
func apiOutcome(section string, err error) outcome {
	return outcome{section: section, status: apiStatus(err), flash: views.Flash{Kind: views.FlashError, Text: fleet.ExplainAPIError(err)}}
}

// apiStatus is the HTTP status an action answers with when the API refused it.
func apiStatus(err error) int {
	e, ok := vagon.AsError(err)
	if !ok || e.Code == vagon.CodeUnauthorized || e.Code == 429 || e.Code >= 500 && e.Code < 600 || e.Code == 0 {
		return http.StatusBadGateway
	}
	if e.Code == vagon.CodeNotFound {
		return http.StatusNotFound
	}
	return http.StatusConflict
}

func badInput(section string, form func(v *views.MachinePageView)) outcome {
	return outcome{section: section, status: http.StatusUnprocessableEntity, form: form,
		flash: views.Flash{Kind: views.FlashError, Text: "Nothing was sent to Vagon: check the highlighted field."}}
}

// staleForm answers a form whose machine changed since it was opened:
// nothing is sent, and the section shows both versions (form fills them in).
func staleForm(section string, form func(v *views.MachinePageView)) outcome {
	return outcome{section: section, status: http.StatusConflict, form: form, ask: true,
		flash: views.Flash{Kind: views.FlashError, Text: "Someone changed this machine since you opened the form. Nothing was sent to Vagon: compare the versions, then save again to apply your choice."}}
}

// seenValue is the value of the hidden seen_<name> field a form carries
// (what its reader saw when the form was rendered); false when absent, as
// from a script that posts the documented fields only.
func seenValue(c echo.Context, name string) (string, bool) {
	v := c.FormValue("seen_" + name)
	vs, ok := c.Request().Form["seen_"+name]
	return v, ok && len(vs) > 0
}

func onOff(b bool) string {
	if b {
		return "On"
	}
	return "Off"
}

func refused(section, why string) outcome {
	return outcome{section: section, status: http.StatusConflict, flash: views.Flash{Kind: views.FlashError, Text: why}}
}

func nothingToChange(section string) outcome {
	return outcome{section: section, status: http.StatusOK, flash: views.Flash{Kind: views.FlashInfo, Text: "Nothing to change."}}
}

// checkbox reads a checkbox field: absent false, "true" (or "on") true; any
// other value is bad input.
func checkbox(c echo.Context, name string) (bool, bool) {
	switch c.FormValue(name) {
	case "":
		return false, true
	case "true", "on":
		return true, true
	}
	return false, false
}

// lookupError answers an action whose machine could not be looked up.
func (s *Server) lookupError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, fleet.ErrAuditUnavailable):
		return err
	case errors.Is(err, fleet.ErrMachineNotFound):
		return errNoSuchMachine
	}
	return s.pageError(c, &apiFailure{err})
}

// startMachine is POST /machines/{id}/start.
func (s *Server) startMachine(c echo.Context) error {
	id := c.Param("id")
	if !fleet.ValidMachineID(id) {
		return errNoSuchMachine
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.Start(ctx, s.actor(c), id, fleet.StartInput{NameHint: nameHint(c)})
	if res == nil || res.Machine == nil {
		return s.lookupError(c, err)
	}
	m := res.Machine
	o, err := actionOutcome("overview", res, err, "Starting "+m.Attributes.Name+". It takes a minute or two to become ready.")
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// stopMachine is POST /machines/{id}/stop (gracefully=true or absent).
func (s *Server) stopMachine(c echo.Context) error {
	if !fleet.ValidMachineID(c.Param("id")) {
		return errNoSuchMachine
	}
	graceful, ok := checkbox(c, "gracefully")
	if !ok {
		m, err := s.loadMachine(c)
		if err != nil {
			return s.pageError(c, err)
		}
		return s.answerAction(c, m, outcome{section: "overview", status: http.StatusUnprocessableEntity,
			flash: views.Flash{Kind: views.FlashError, Text: "The graceful choice must be ticked or not. Nothing was sent to Vagon."}})
	}
	if c.FormValue("confirm") != "true" {
		m, err := s.loadMachine(c)
		if err != nil {
			return s.pageError(c, err)
		}
		if ask := s.stopQuestion(c, m, graceful); ask != nil {
			return s.answerAction(c, m, outcome{section: "overview", status: http.StatusOK, ask: true,
				form: func(v *views.MachinePageView) { v.StopConfirm = ask }})
		}
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.Stop(ctx, s.actor(c), c.Param("id"), fleet.StopInput{NameHint: nameHint(c), Gracefully: graceful})
	if res == nil || res.Machine == nil {
		return s.lookupError(c, err)
	}
	m := res.Machine
	msg := "Stopping " + m.Attributes.Name + "."
	if graceful {
		msg = "Stopping " + m.Attributes.Name + " gracefully: it saves files, logs and recordings first."
	}
	o, err := actionOutcome("overview", res, err, msg)
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// stopQuestion is the confirmation to ask before stopping m, nil when
// nobody is using it: a running session (end_at null) or an image in use
// means someone may lose their work. Only a ready machine is asked about;
// for any other state the API's refusal explains itself.
func (s *Server) stopQuestion(c echo.Context, m *vagon.Machine, graceful bool) *views.StopConfirmView {
	a := m.Attributes
	if !fleet.NeedsInUseCheck(m) {
		return nil
	}
	ask := &views.StopConfirmView{Graceful: graceful}
	if a.User != nil {
		ask.UserName, ask.UserEmail = a.User.Attributes.Name, a.User.Attributes.Email
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	u, err := fleet.MachineInUse(ctx, s.api, m)
	if err != nil {
		// Unknown: ask rather than cut someone off.
		s.log.Warn("vagon api", "err", err.Error(), "request_id", requestID(c), "route", c.Path())
		return ask
	}
	if !u.Yes() {
		return nil
	}
	ask.Since = u.Since
	return ask
}

// resetMachine is POST /machines/{id}/reset (confirm = the name, remove_files).
func (s *Server) resetMachine(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	confirm := c.FormValue("confirm")
	removeFiles, okRF := checkbox(c, "remove_files")
	errs := map[string]string{}
	switch {
	case len(confirm) > maxConfirmLen:
		errs["confirm"] = "That is not the machine's name. Type it exactly: " + m.Attributes.Name
		confirm = ""
	case strings.TrimSpace(confirm) != m.Attributes.Name:
		errs["confirm"] = "Type the machine's name exactly, " + m.Attributes.Name + ", to confirm the reset."
	}
	if !okRF {
		errs["remove_files"] = "Tick the box or leave it empty."
	}
	if len(errs) > 0 {
		return s.answerAction(c, m, badInput("reset", func(v *views.MachinePageView) {
			v.Reset = views.ResetForm{Confirm: confirm, RemoveFiles: removeFiles, Errors: errs}
		}))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.Reset(ctx, s.actor(c), string(m.ID), fleet.ResetInput{Machine: m, RemoveFiles: removeFiles})
	msg := "Reset " + m.Attributes.Name + "."
	if removeFiles {
		msg = "Reset " + m.Attributes.Name + " and deleted its Vagon Files."
	}
	o, err := actionOutcome("reset", res, err, msg)
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// parseAccessForm reads expires_in (minutes, a preset or "custom" with
// custom_minutes) and note.
func parseAccessForm(c echo.Context) (views.AccessForm, int) {
	f := views.AccessForm{ExpiresIn: truncate(c.FormValue("expires_in"), 12), Custom: truncate(c.FormValue("custom_minutes"), 12), Errors: map[string]string{}}
	note := c.FormValue("note")
	raw := f.ExpiresIn
	if raw == "custom" {
		raw = f.Custom
	}
	minutes, err := strconv.Atoi(strings.TrimSpace(raw))
	custom := strings.TrimSpace(f.Custom)
	switch {
	case err != nil || minutes < 1 || minutes > maxAccessMinutes:
		f.Errors["expires_in"] = "Choose how long the link is valid: a preset, or 1 to 43,200 minutes (30 days)."
		minutes = 0
	case f.ExpiresIn != "custom" && custom != "" && custom != f.ExpiresIn:
		// Two answers to one question: never pick one silently.
		f.Errors["expires_in"] = "You chose " + views.FormatMinutes(int64(minutes)) + " but typed " + custom + " minutes under Custom. Choose Custom to use " + custom + " minutes, or clear the box to use " + views.FormatMinutes(int64(minutes)) + "."
		minutes = 0
	}
	switch {
	case !utf8.ValidString(note):
		f.Errors["note"] = "The note contains invalid characters."
	case utf8.RuneCountInString(note) > maxNoteLen:
		f.Errors["note"] = "The note can be at most 500 characters."
		note = truncate(note, maxNoteLen)
	case strings.ContainsFunc(note, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		f.Errors["note"] = "The note must be a single line of text."
	}
	f.Note = strings.TrimSpace(note)
	return f, minutes
}

// createAccessLink is POST /machines/{id}/access. It answers 200 with the
// link, once; the link is never stored, logged, flashed or redirected with.
func (s *Server) createAccessLink(c echo.Context) error {
	if !fleet.ValidMachineID(c.Param("id")) {
		return errNoSuchMachine
	}
	form, minutes := parseAccessForm(c)
	if len(form.Errors) > 0 {
		m, err := s.loadMachine(c)
		if err != nil {
			return s.pageError(c, err)
		}
		return s.answerAction(c, m, badInput("access", func(v *views.MachinePageView) { v.Access = form }))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.IssueAccessLink(ctx, s.actor(c), c.Param("id"), fleet.AccessLinkInput{NameHint: nameHint(c), ExpiresIn: minutes, Note: form.Note})
	if ce, ok := errors.AsType[*fleet.LinkCapError](err); ok {
		// Over the role's cap: nothing was sent; say so next to the field.
		m, lerr := s.loadMachine(c)
		if lerr != nil {
			return s.pageError(c, lerr)
		}
		form.Errors["expires_in"] = ce.Error()
		return s.answerAction(c, m, badInput("access", func(v *views.MachinePageView) { v.Access = form }))
	}
	if res == nil || res.Machine == nil {
		return s.lookupError(c, err)
	}
	m, link := res.Machine, res.Link
	if link == nil {
		o, err := actionOutcome("access", res, err, "")
		if err != nil {
			return err
		}
		o.changed = false
		o.form = func(v *views.MachinePageView) { v.Access = form }
		return s.answerAction(c, m, o)
	}
	shown := &views.AccessResult{Link: link.Attributes.ConnectionLink, ExpiresAt: link.Attributes.ExpiresAt, Minutes: minutes, Note: form.Note}
	form.Errors = nil
	v := s.machinePage(c, m, parts{})
	if !isHTMX(c) {
		v = s.machinePage(c, m, allParts)
	}
	v.Access = views.AccessForm{ExpiresIn: form.ExpiresIn, Custom: form.Custom, Result: shown}
	p := s.page(c, m.Attributes.Name, views.NavMachines)
	ok := views.Flash{Kind: views.FlashSuccess, Text: "Access link issued for " + m.Attributes.Name + ". Copy it now: it is shown only once."}
	v.Outcome = &views.SectionOutcome{Section: "access", Kind: ok.Kind, Text: ok.Text}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.MachineActionResult(p, v, "access", []views.Flash{ok}))
	}
	p.Flashes = append(p.Flashes, ok)
	return render(c, http.StatusOK, views.MachinePage(p, v))
}

// setPermissions is POST /machines/{id}/permissions: a checkbox per key the
// API lists (fleet.PermissionFields) that the dashboard can change; other
// form fields are ignored. Only the changed ones are sent, and the audit
// keeps before and after.
func (s *Server) setPermissions(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	before := m.Attributes.Permissions.AsMap()
	var keys []string
	for _, f := range s.fleet.PermissionFields(c.Request().Context()) {
		if f.Known() {
			keys = append(keys, f.Key)
		}
	}
	// A form that says what its reader saw (seen_*) and is silent on a
	// key did not show that key (the list changed since): it stays as it is.
	rendered := false
	for _, k := range keys {
		if _, ok := seenValue(c, k); ok {
			rendered = true
		}
	}
	after := make(map[string]bool, len(keys))
	var bad []string
	for _, k := range keys {
		if _, ok := seenValue(c, k); rendered && !ok {
			continue
		}
		on, ok := checkbox(c, k)
		if !ok {
			bad = append(bad, k)
			continue
		}
		after[k] = on
	}
	if len(bad) > 0 {
		return s.answerAction(c, m, badInput("permissions", func(v *views.MachinePageView) {
			v.Perms.Errors = map[string]string{"permissions": "Each permission is a checkbox, ticked or not (bad value for " + strings.Join(bad, ", ") + ")."}
		}))
	}
	// The reader's choice over the current state: what they changed from
	// what they saw, and the current value of everything they left alone
	// (so saving again never undoes the other change).
	// The comparison lists what changed on either side.
	var conflict []views.ConflictRow
	stale := false
	wanted := make(map[string]bool, len(after))
	for _, k := range keys {
		if _, in := after[k]; !in {
			continue
		}
		seen, ok := seenValue(c, k)
		wanted[k] = after[k]
		if ok && (seen == "true") == after[k] {
			wanted[k] = before[k]
		}
		if ok && ((seen == "true") != before[k] || (seen == "true") != after[k]) {
			stale = stale || (seen == "true") != before[k]
			conflict = append(conflict, views.ConflictRow{Label: fleet.PermissionLabel(k), Seen: onOff(seen == "true"), Current: onOff(before[k]), Wanted: onOff(wanted[k])})
		}
	}
	if stale {
		return s.answerAction(c, m, staleForm("permissions", func(v *views.MachinePageView) {
			v.Perms.Conflict, v.Perms.Wanted = conflict, wanted
		}))
	}
	if len(fleet.ChangedPermissions(after, m.Attributes.Permissions)) == 0 {
		return s.answerAction(c, m, nothingToChange("permissions"))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.SetPermissions(ctx, s.actor(c), string(m.ID), fleet.PermissionsInput{Machine: m, Set: after})
	o, err := actionOutcome("permissions", res, err, "Permissions of "+m.Attributes.Name+" saved.")
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// setMachineType is POST /machines/{id}/machine-type (machine_type_id).
func (s *Server) setMachineType(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	typeID := strings.TrimSpace(c.FormValue("machine_type_id"))
	if !fleet.ValidID(typeID) {
		return s.answerAction(c, m, badInput("performance", func(v *views.MachinePageView) {
			v.Performance.Errors = map[string]string{"machine_type_id": "Choose one of the machine types in the list."}
		}))
	}
	if seen, ok := seenValue(c, "machine_type"); ok && seen != m.Attributes.MachineType {
		return s.answerAction(c, m, staleForm("performance", func(v *views.MachinePageView) {
			wanted := typeID
			for _, t := range v.Performance.Types {
				if t.ID == typeID {
					wanted = t.Name
				}
			}
			if wanted == seen {
				// Left as it was: the current type stays chosen.
				wanted = m.Attributes.MachineType
			} else {
				v.Performance.Wanted = typeID
			}
			v.Performance.Conflict = []views.ConflictRow{{Label: "Performance", Seen: seen, Current: m.Attributes.MachineType, Wanted: wanted}}
		}))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.SetPerformance(ctx, s.actor(c), string(m.ID), fleet.PerformanceInput{Machine: m, MachineTypeID: typeID})
	o, err := actionOutcome("performance", res, err, "Performance of "+m.Attributes.Name+" changed.")
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// updateMachineSettings is POST /machines/{id}/settings
// (auto_stop_threshold, usage_source); only changed fields are sent.
func (s *Server) updateMachineSettings(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	a := m.Attributes
	rawStop, rawSource := truncate(c.FormValue("auto_stop_threshold"), 12), truncate(c.FormValue("usage_source"), 20)
	errs := map[string]string{}
	var req vagon.UpdateMachineRequest
	if rawStop != "" {
		n, err := strconv.Atoi(rawStop)
		if err != nil || !slices.Contains(vagon.AutoStopThresholds, n) {
			errs["auto_stop_threshold"] = "Choose Off, 15 min, 1 h, 3 h or 6 h."
		} else if n != a.AutoStopThreshold {
			req.AutoStopThreshold = &n
		}
	}
	if rawSource != "" {
		switch rawSource {
		case vagon.UsageSourceMachine, vagon.UsageSourceTeamBalance:
			if rawSource != a.UsageSource {
				src := rawSource
				req.UsageSource = &src
			}
		default:
			errs["usage_source"] = "Choose machine only or team balance."
		}
	}
	form := func(v *views.MachinePageView) {
		v.Settings = views.SettingsForm{AutoStop: rawStop, UsageSource: rawSource, Errors: errs}
	}
	if len(errs) > 0 {
		return s.answerAction(c, m, badInput("settings", form))
	}
	// A setting left as the reader saw it takes the current value.
	if seen, ok := seenValue(c, "auto_stop_threshold"); ok && seen == rawStop {
		rawStop = ""
	}
	if seen, ok := seenValue(c, "usage_source"); ok && seen == rawSource {
		rawSource = ""
	}
	if conflict, stale := settingsConflict(c, a, rawStop, rawSource); stale {
		return s.answerAction(c, m, staleForm("settings", func(v *views.MachinePageView) {
			v.Settings = views.SettingsForm{AutoStop: rawStop, UsageSource: rawSource, Conflict: conflict}
		}))
	}
	if req.AutoStopThreshold == nil && req.UsageSource == nil {
		return s.answerAction(c, m, nothingToChange("settings"))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.UpdateSettings(ctx, s.actor(c), string(m.ID), fleet.SettingsInput{Machine: m, AutoStopThreshold: req.AutoStopThreshold, UsageSource: req.UsageSource})
	o, err := actionOutcome("settings", res, err, "Settings of "+m.Attributes.Name+" saved.")
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}

// settingsConflict compares a settings form with the machine: stale when a
// setting's current value differs from the one the form was opened with;
// the rows list those and the ones the reader changed (rawStop, rawSource
// are "" for a setting left as it was).
func settingsConflict(c echo.Context, a vagon.MachineAttributes, rawStop, rawSource string) ([]views.ConflictRow, bool) {
	var rows []views.ConflictRow
	stale := false
	if seen, ok := seenValue(c, "auto_stop_threshold"); ok && (seen != strconv.Itoa(a.AutoStopThreshold) || rawStop != "") {
		stale = stale || seen != strconv.Itoa(a.AutoStopThreshold)
		n, _ := strconv.Atoi(seen)
		wanted := fleet.AutoStopLabel(a.AutoStopThreshold)
		if w, err := strconv.Atoi(rawStop); err == nil {
			wanted = fleet.AutoStopLabel(w)
		}
		rows = append(rows, views.ConflictRow{Label: "Auto-stop after idle", Seen: fleet.AutoStopLabel(n), Current: fleet.AutoStopLabel(a.AutoStopThreshold), Wanted: wanted})
	}
	if seen, ok := seenValue(c, "usage_source"); ok && (seen != a.UsageSource || rawSource != "") {
		stale = stale || seen != a.UsageSource
		wanted := a.UsageSource
		if rawSource != "" {
			wanted = rawSource
		}
		rows = append(rows, views.ConflictRow{Label: "Usage source", Seen: views.UsageSourceLabel(seen), Current: views.UsageSourceLabel(a.UsageSource), Wanted: views.UsageSourceLabel(wanted)})
	}
	return rows, stale
}

// uidError words a task uid's rule breach for the field.
func uidError(uid string) string {
	switch {
	case strings.TrimSpace(uid) == "":
		return "Enter a task name."
	case utf8.RuneCountInString(uid) > vagon.MaxTaskUIDLen:
		return "A task name can be at most 255 characters."
	case !utf8.ValidString(uid) || strings.ContainsFunc(uid, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "A task name must be plain text on one line."
	}
	if vagon.ValidateTaskUID(uid) != nil {
		return `A task name may not contain any of \ / : * ? " < > |`
	}
	return ""
}

// activateTask is POST /machines/{id}/tasks (uid): create or reactivate.
func (s *Server) activateTask(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	uid := c.FormValue("uid")
	if why := uidError(uid); why != "" {
		shown := uid
		if len(shown) > 1024 {
			shown = ""
		}
		return s.answerAction(c, m, badInput("tasks", func(v *views.MachinePageView) {
			v.Tasks.UID, v.Tasks.Errors = shown, map[string]string{"uid": why}
		}))
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	res, err := s.fleet.ActivateTask(ctx, s.actor(c), string(m.ID), fleet.ActivateTaskInput{Machine: m, UID: uid})
	o, err := actionOutcome("tasks", res, err, "")
	if err != nil {
		return err
	}
	if res.Task != nil {
		tr := res.Task
		o.flash.Text = res.Message
		o.form = func(v *views.MachinePageView) { v.Tasks.Result, v.Tasks.ResultUID = tr.Result, uid }
	} else {
		o.form = func(v *views.MachinePageView) { v.Tasks.UID = uid }
	}
	return s.answerAction(c, m, o)
}

// deleteTask is POST /machines/{id}/tasks/{task_id}/delete. The task is
// looked up first: the default Outputs task is refused without an API call.
func (s *Server) deleteTask(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	taskID := c.Param("task_id")
	if !fleet.ValidID(taskID) {
		return s.answerAction(c, m, outcome{section: "tasks", status: http.StatusNotFound,
			flash: views.Flash{Kind: views.FlashError, Text: "This machine has no such task."}})
	}
	ctx, cancel := contextFor(c)
	defer cancel()
	tasks, err := s.api.ListAllTasks(ctx, string(m.ID))
	if err != nil {
		return s.answerAction(c, m, apiOutcome("tasks", err))
	}
	i := slices.IndexFunc(tasks, func(t vagon.Task) bool { return string(t.ID) == taskID })
	switch {
	case i < 0:
		return s.answerAction(c, m, outcome{section: "tasks", status: http.StatusNotFound,
			flash: views.Flash{Kind: views.FlashError, Text: "This machine has no such task. It may have been deleted already."}})
	}
	uid := tasks[i].Attributes.UID
	res, err := s.fleet.DeleteTask(ctx, s.actor(c), string(m.ID), fleet.DeleteTaskInput{Machine: m, TaskID: taskID, UID: uid})
	o, err := actionOutcome("tasks", res, err, "Deleted the task "+uid+".")
	if err != nil {
		return err
	}
	return s.answerAction(c, m, o)
}
