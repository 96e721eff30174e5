package vagonsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Paging limits.
const (
	defaultPerPage      = 20
	defaultTasksPerPage = 25 // Kaminari's default, which the reference names
	maxPerPage          = 100
	maxQuantity         = 50
	maxExpiresIn        = 365 * 24 * 60 // minutes
)

// machineList is GET /machines (machines with numeric task ids).
type machineList struct {
	Machines []wireMachine `json:"machines"`
	Count    int           `json:"count"`
	Page     int           `json:"page"`
	NextPage *int          `json:"next_page"`
	vagon.Envelope
}

// createdMachines is POST /machines.
type createdMachines struct {
	Machines []wireMachine `json:"machines"`
	Count    int           `json:"count"`
	vagon.Envelope
}

// machineResponse is PATCH /machines/{id}: the machine's fields at the top
// level next to the envelope's.
type machineResponse struct {
	wireMachine
	vagon.Envelope
}

// lookup finds the machine of the {id} path parameter and brings its status
// up to date.
func (s *Sim) lookup(c *call) (*machine, *apiError) {
	id, err := strconv.ParseInt(c.param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errf(400, "machine id must be a positive integer")
	}
	m := s.machines[id]
	if m == nil {
		return nil, errf(404, "machine not found")
	}
	m.advance(c.now)
	return m, nil
}

// decodeObject decodes a JSON object body into fields; an empty body is an
// empty object.
func decodeObject(body []byte) (map[string]json.RawMessage, *apiError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if body[0] != '{' {
		return nil, errf(400, "request body must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, errf(400, "malformed JSON body")
	}
	return fields, nil
}

// field decodes one optional field into dst; present reports whether it
// was sent and not null.
func field(fields map[string]json.RawMessage, name string, dst any) (present bool, e *apiError) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return false, errf(400, fmt.Sprintf("%s has the wrong type", name))
	}
	return true, nil
}

// intField decodes an integer sent as a JSON number or as decimal text.
func intField(fields map[string]json.RawMessage, name string) (v int64, present bool, e *apiError) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return 0, false, nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		text = string(raw)
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, false, errf(400, name+" must be an integer")
	}
	return v, true, nil
}

// parsePermissions checks a permissions object: known keys, boolean values.
func parsePermissions(raw json.RawMessage) (map[string]bool, *apiError) {
	var fields map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' || json.Unmarshal(raw, &fields) != nil {
		return nil, errf(400, "permissions must be an object")
	}
	out := map[string]bool{}
	for k, v := range fields {
		if !slices.Contains(vagon.PermissionKeys, k) {
			return nil, errf(400, "unknown permission "+strconv.Quote(k))
		}
		var b bool
		if err := json.Unmarshal(v, &b); err != nil || string(v) == "null" {
			return nil, errf(400, "permission "+k+" must be true or false")
		}
		out[k] = b
	}
	return out, nil
}

func applyPermissions(p *vagon.Permissions, set map[string]bool) {
	var u vagon.PermissionsUpdate
	for k, v := range set {
		u.Set(k, v)
	}
	for _, f := range []struct {
		dst *bool
		v   *bool
	}{
		{&p.PublicInternetAccess, u.PublicInternetAccess},
		{&p.CanDownloadFromVagonWorkstation, u.CanDownloadFromVagonWorkstation},
		{&p.CanUploadToWorkstation, u.CanUploadToWorkstation},
		{&p.AnalyticsCollectionEnabled, u.AnalyticsCollectionEnabled},
		{&p.ClipboardEnabled, u.ClipboardEnabled},
		{&p.ScreenRecordingEnabled, u.ScreenRecordingEnabled},
		{&p.InputRecordingEnabled, u.InputRecordingEnabled},
	} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
}

// queryInt reads an integer query parameter with a default and a minimum.
func queryInt(c *call, name string, def, minimum int) (int, *apiError) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum {
		return 0, errf(400, fmt.Sprintf("%s must be an integer of at least %d", name, minimum))
	}
	return n, nil
}

// queryBool reads an optional boolean query parameter.
func queryBool(c *call, name string) (*bool, *apiError) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, errf(400, name+" must be true or false")
	}
	return &b, nil
}

// paging returns the bounds of page for total items and the next page.
func paging(total, page, perPage int) (lo, hi int, next *int) {
	lo = min((page-1)*perPage, total)
	hi = min(lo+perPage, total)
	if page*perPage < total {
		n := page + 1
		next = &n
	}
	return lo, hi, next
}

// listMachines serves GET /machines.
func (s *Sim) listMachines(c *call) (any, *apiError) {
	page, e := queryInt(c, "page", 1, 1)
	if e != nil {
		return nil, e
	}
	perPage, e := queryInt(c, "per_page", defaultPerPage, 1)
	if e != nil {
		return nil, e
	}
	perPage = min(perPage, maxPerPage)
	timeLeft, e := queryInt(c, "time_left", -1, 0)
	if e != nil {
		return nil, e
	}
	assigned, e := queryBool(c, "assigned")
	if e != nil {
		return nil, e
	}
	hasData, e := queryBool(c, "has_session_data")
	if e != nil {
		return nil, e
	}
	q := strings.ToLower(c.r.URL.Query().Get("q"))
	status := vagon.Status(c.r.URL.Query().Get("status"))
	if status != "" && !status.Known() {
		return nil, errf(400, "unknown status "+strconv.Quote(string(status)))
	}

	var matched []*machine
	for _, id := range s.order {
		m := s.machines[id]
		m.advance(c.now)
		switch {
		case q != "" && !strings.Contains(strings.ToLower(m.name), q) &&
			(m.user == nil || !strings.Contains(strings.ToLower(m.user.email), q)):
			continue
		case status != "" && m.status != status:
			continue
		case assigned != nil && *assigned != (m.user != nil || m.pendingInvite):
			continue
		case timeLeft >= 0 && m.remainingMinutes(c.now) < int64(timeLeft):
			continue
		case hasData != nil && *hasData != m.hasSessionData():
			continue
		}
		matched = append(matched, m)
	}
	lo, hi, next := paging(len(matched), page, perPage)
	out := machineList{Machines: make([]wireMachine, 0, hi-lo), Count: len(matched), Page: page, NextPage: next, Envelope: envelope(c.now)}
	for _, m := range matched[lo:hi] {
		out.Machines = append(out.Machines, m.view(c.now))
	}
	return out, nil
}

// createMachines serves POST /machines.
func (s *Sim) createMachines(c *call) (any, *apiError) {
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	planID, ok, e := intField(f, "plan_id")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errf(400, "plan_id is required")
	}
	quantity := int64(1)
	if q, ok, e := intField(f, "quantity"); e != nil {
		return nil, e
	} else if ok {
		quantity = q
	}
	if quantity < 1 || quantity > maxQuantity {
		return nil, errf(400, fmt.Sprintf("quantity must be between 1 and %d", maxQuantity))
	}
	var region string
	if _, e := field(f, "region", &region); e != nil {
		return nil, e
	}
	var softwareIDs []int64
	if _, e := field(f, "software_ids", &softwareIDs); e != nil {
		return nil, e
	}
	for _, id := range softwareIDs {
		if !findSoftware(id) {
			return nil, errf(400, fmt.Sprintf("unknown software id %d", id))
		}
	}
	image := baseImages[len(baseImages)-1]
	if id, ok, e := intField(f, "base_image_id"); e != nil {
		return nil, e
	} else if ok {
		if image, ok = findBaseImage(id); !ok {
			return nil, errf(400, fmt.Sprintf("unknown base image id %d", id))
		}
	}
	perms := vagon.DefaultPermissions()
	if raw, ok := f["permissions"]; ok && string(raw) != "null" {
		set, e := parsePermissions(raw)
		if e != nil {
			return nil, e
		}
		applyPermissions(&perms, set)
	}
	plan := findPlan(planID)
	if plan == nil {
		return nil, errf(404, "plan not found")
	}
	if region == "" {
		region = s.defaultRegion
	}
	if region == "" {
		return nil, errf(4202, "region is required")
	}
	if !slices.Contains(Regions, region) {
		return nil, errf(400, "unknown region "+strconv.Quote(region))
	}
	cost := quantity * s.machinePrice
	if s.balance < cost {
		return nil, errf(480, "insufficient balance to create computer")
	}
	s.balance -= cost

	out := createdMachines{Count: int(quantity), Envelope: envelope(c.now)}
	for range quantity {
		id := s.nextID
		s.nextID++
		imageID, imageName := image.ID, image.Name
		m := &machine{
			id: id, name: fmt.Sprintf("Computer #%d", id), planID: plan.ID,
			typeID: string(plan.MachineTypes[0].ID), region: region, autoStop: 900,
			networkCredit: 10 << 30, imageID: &imageID, imageName: &imageName,
			usageSource: vagon.UsageSourceMachine, perms: perms, backupEnabled: true,
			createdAt: c.now, status: vagon.StatusOff, snapshotDuration: s.durations.Snapshot,
		}
		s.addMachine(m)
		s.logAction(c.now, vagon.ActionMachineCreated, m, map[string]any{"plan_id": plan.ID, "region": region})
		out.Machines = append(out.Machines, m.view(c.now))
	}
	return out, nil
}

// addMachine registers m. The caller holds s.mu.
func (s *Sim) addMachine(m *machine) {
	s.machines[m.id] = m
	s.order = append(s.order, m.id)
	if m.id >= s.nextID {
		s.nextID = m.id + 1
	}
}

// updateMachine serves PATCH /machines/{id}.
func (s *Sim) updateMachine(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	threshold, setThreshold, e := intField(f, "auto_stop_threshold")
	if e != nil {
		return nil, e
	}
	if setThreshold && !slices.Contains(vagon.AutoStopThresholds, int(threshold)) {
		return nil, errf(400, "auto_stop_threshold must be one of 0, 900, 3600, 10800, 21600")
	}
	var source string
	setSource, e := field(f, "usage_source", &source)
	if e != nil {
		return nil, e
	}
	if setSource && source != vagon.UsageSourceMachine && source != vagon.UsageSourceTeamBalance {
		return nil, errf(400, `usage_source must be "machine" or "team_balance"`)
	}
	if setThreshold {
		m.autoStop = int(threshold)
	}
	if setSource {
		m.usageSource = source
	}
	return machineResponse{wireMachine: m.view(c.now), Envelope: envelope(c.now)}, nil
}

// startMachine serves POST /machines/{id}/start.
func (s *Sim) startMachine(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	if m.status != vagon.StatusOff {
		return nil, errf(4201, fmt.Sprintf("machine is not ready to start: its status is %s, and only an off machine starts", m.status))
	}
	if s.balance <= 0 {
		return nil, errf(480, "insufficient balance")
	}
	if m.remainingSec < 60 && m.usageSource == vagon.UsageSourceMachine {
		return nil, errf(480, "insufficient balance: the machine has no remaining usage")
	}
	s.start(m, c.now)
	s.logAction(c.now, vagon.ActionMachineStarted, m, nil)
	return envelope(c.now), nil
}

// start turns m on at now. The caller holds s.mu and has checked m is off.
func (s *Sim) start(m *machine, now time.Time) {
	if !m.everStarted {
		m.status = vagon.StatusCreating
		m.steps = []step{
			{status: vagon.StatusWarmingUp, at: now.Add(s.durations.Creating)},
			{status: vagon.StatusReady, at: now.Add(s.durations.Creating + s.durations.WarmingUp)},
		}
	} else {
		m.status = vagon.StatusTurningOn
		m.steps = []step{{status: vagon.StatusReady, at: now.Add(s.durations.TurningOn)}}
	}
	m.everStarted, m.hasUserData = true, true
	m.sessions = append(m.sessions, session{id: s.nextSess, start: now})
	s.nextSess++
	if m.outputs() == nil {
		t := s.newTask(m, vagon.OutputsTaskUID, now)
		t.active = m.activeTask() == nil
	}
}

// newTask adds a task to m. The caller holds s.mu.
func (s *Sim) newTask(m *machine, uid string, now time.Time) *task {
	t := &task{id: s.nextTask, uid: uid, createdAt: now}
	s.nextTask++
	m.tasks = append(m.tasks, t)
	return t
}

// machineAndFlag looks up the call's machine and reads one optional boolean
// field of its JSON body (false when absent).
func (s *Sim) machineAndFlag(c *call, name string) (*machine, bool, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, false, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, false, e
	}
	var v bool
	if _, e := field(f, name, &v); e != nil {
		return nil, false, e
	}
	return m, v, nil
}

// stopMachine serves POST /machines/{id}/stop.
func (s *Sim) stopMachine(c *call) (any, *apiError) {
	m, graceful, e := s.machineAndFlag(c, "gracefully")
	if e != nil {
		return nil, e
	}
	if m.status != vagon.StatusReady {
		return nil, errf(4204, fmt.Sprintf("machine is not running: it is %s", m.status))
	}
	s.stop(m, c.now, graceful)
	s.logAction(c.now, vagon.ActionMachineStopped, m, map[string]any{"gracefully": graceful})
	return envelope(c.now), nil
}

// stop turns m off at now. The caller holds s.mu.
func (s *Sim) stop(m *machine, now time.Time, graceful bool) {
	m.status, m.steps = vagon.StatusTurningOff, []step{{status: vagon.StatusOff, at: now.Add(s.durations.TurningOff)}}
	if graceful {
		m.status, m.steps = vagon.StatusGracefulStopping, []step{{status: vagon.StatusOff, at: now.Add(s.durations.GracefulStopping)}}
	}
	m.closeSession(now)
	if t := m.activeTask(); t != nil {
		size := int64(0)
		if t.folderSize != nil {
			size = *t.folderSize
		}
		size += s.rng.Int64N(200 << 20)
		t.folderSize = &size
	}
}

// listMachineTypes serves GET /machines/{id}/available-machine-types.
func (s *Sim) listMachineTypes(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	out := vagon.MachineTypes{MachineTypes: []vagon.MachineType{}, Envelope: envelope(c.now)}
	if p := findPlan(m.planID); p != nil {
		out.MachineTypes = append(out.MachineTypes, p.MachineTypes...)
	}
	return out, nil
}

// setMachineType serves POST /machines/{id}/machine-type.
func (s *Sim) setMachineType(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	typeID, ok, e := intField(f, "machine_type_id")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errf(400, "machine_type_id is required")
	}
	p := findPlan(m.planID)
	if p == nil || !planHasType(p, strconv.FormatInt(typeID, 10)) {
		return nil, errf(4205, "machine type is not available for this plan")
	}
	if m.status != vagon.StatusOff {
		return nil, errf(4206, fmt.Sprintf("machine is running: it is %s", m.status))
	}
	s.logAction(c.now, vagon.ActionMachineTypeChanged, m, map[string]any{"from_machine_type_id": m.typeID, "to_machine_type_id": strconv.FormatInt(typeID, 10)})
	m.typeID = strconv.FormatInt(typeID, 10)
	return envelope(c.now), nil
}

// createAccess serves POST /machines/{id}/access.
func (s *Sim) createAccess(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	minutes, ok, e := intField(f, "expires_in")
	if e != nil {
		return nil, e
	}
	if !ok || minutes < 1 || minutes > maxExpiresIn {
		return nil, errf(400, fmt.Sprintf("expires_in must be between 1 and %d minutes", maxExpiresIn))
	}
	out := vagon.AccessLink{ID: vagon.ID(strconv.FormatInt(s.nextLink, 10)), Type: "machine_external_access", Envelope: envelope(c.now)}
	s.nextLink++
	out.Attributes.ExpiresAt = c.now.Add(time.Duration(minutes) * time.Minute)
	out.Attributes.ConnectionLink = "https://app.vagon.io/team/session/" + randomUUID()
	// The log names the link, never its connection_link (a credential).
	s.logAction(c.now, vagon.ActionExternalAccessCreated, m, map[string]any{"access_id": string(out.ID), "expires_in_minutes": minutes})
	return out, nil
}

// resetMachine serves POST /machines/{id}/reset.
func (s *Sim) resetMachine(c *call) (any, *apiError) {
	m, removeFiles, e := s.machineAndFlag(c, "remove_files")
	if e != nil {
		return nil, e
	}
	if m.status != vagon.StatusOff {
		return nil, errf(4206, fmt.Sprintf("machine is running: it is %s", m.status))
	}
	s.reset(m, c.now, removeFiles)
	s.logAction(c.now, vagon.ActionMachineReset, m, map[string]any{"remove_files": removeFiles})
	return envelope(c.now), nil
}

// reset wipes m: non-default tasks are deleted (their uids become reusable),
// Outputs stays and is active. The caller holds s.mu.
func (s *Sim) reset(m *machine, now time.Time, removeFiles bool) {
	m.lastResetAt = now
	m.hasUserData = false
	for _, t := range m.tasks {
		if t.deleted {
			continue
		}
		t.active = false
		if t.uid != vagon.OutputsTaskUID {
			t.deleted, t.deletedAt = true, now
		} else if removeFiles {
			t.folderSize = nil
		}
	}
	// Deleted tasks are kept only to refuse their uids; after a reset every
	// uid is free again, so they can go.
	m.tasks = slices.DeleteFunc(m.tasks, func(t *task) bool { return t.deleted })
	o := m.outputs()
	if o == nil {
		o = s.newTask(m, vagon.OutputsTaskUID, now)
	}
	o.active = true
}

// updatePermissions serves POST /machines/{id}/permissions.
func (s *Sim) updatePermissions(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	raw, ok := f["permissions"]
	if !ok || string(raw) == "null" {
		return nil, errf(400, "permissions is required")
	}
	set, e := parsePermissions(raw)
	if e != nil {
		return nil, e
	}
	applyPermissions(&m.perms, set)
	return envelope(c.now), nil
}

// listSessions serves GET /machines/{id}/sessions: every session, newest first.
func (s *Sim) listSessions(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	return vagon.Sessions{Sessions: m.sessionsView(c.now), Envelope: envelope(c.now)}, nil
}

// visibleTasks are m's non-deleted tasks, newest first.
func (m *machine) visibleTasks() []*task {
	var out []*task
	for _, t := range m.tasks {
		if !t.deleted {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b *task) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return int(b.id - a.id)
	})
	return out
}

// listTasks serves GET /machines/{id}/tasks.
func (s *Sim) listTasks(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	page, e := queryInt(c, "page", 1, 1)
	if e != nil {
		return nil, e
	}
	perPage, e := queryInt(c, "per_page", defaultTasksPerPage, 1)
	if e != nil {
		return nil, e
	}
	perPage = min(perPage, maxPerPage)
	all := m.visibleTasks()
	lo, hi, next := paging(len(all), page, perPage)
	out := vagon.TaskList{Tasks: make([]vagon.Task, 0, hi-lo), Count: len(all), Page: page, NextPage: next, Envelope: envelope(c.now)}
	for _, t := range all[lo:hi] {
		out.Tasks = append(out.Tasks, taskView(t))
	}
	return out, nil
}

// validUID reports why uid is not a valid task uid, or "".
func validUID(uid string) string {
	switch {
	case uid == "":
		return "uid is required"
	case utf8.RuneCountInString(uid) > 255:
		return "uid must be at most 255 characters"
	case strings.ContainsAny(uid, `\/:*?"<>|`):
		return `uid must not contain any of \ / : * ? " < > |`
	}
	return ""
}

// activateTask serves POST /machines/{id}/tasks.
func (s *Sim) activateTask(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	f, e := decodeObject(c.body)
	if e != nil {
		return nil, e
	}
	var uid string
	if _, e := field(f, "uid", &uid); e != nil {
		return nil, e
	}
	if why := validUID(uid); why != "" {
		return nil, errf(4216, "invalid task uid: "+why)
	}
	if m.status != vagon.StatusOff {
		return nil, errf(4206, fmt.Sprintf("machine is running: it is %s", m.status))
	}
	if !m.backupEnabled {
		return nil, errf(4218, "backup is not enabled for this seat")
	}
	result := vagon.TaskCreated
	var target *task
	for _, t := range m.tasks {
		if t.uid == uid && !t.deleted {
			target = t
		}
	}
	switch {
	case target != nil && target.active:
		result = vagon.TaskAlreadyActive
	case target != nil:
		result = vagon.TaskReactivated
	default:
		for _, t := range m.tasks {
			if t.uid == uid && t.deleted {
				return nil, errf(4217, "task uid was deleted before and cannot be reused")
			}
		}
		target = s.newTask(m, uid, c.now)
	}
	for _, t := range m.tasks {
		t.active = t == target
	}
	return vagon.TaskResult{Task: taskView(target), Result: result, Envelope: envelope(c.now)}, nil
}

// deleteTask serves DELETE /machines/{id}/tasks/{task_id}.
func (s *Sim) deleteTask(c *call) (any, *apiError) {
	m, e := s.lookup(c)
	if e != nil {
		return nil, e
	}
	id, err := strconv.ParseInt(c.param("task_id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errf(400, "task id must be a positive integer")
	}
	var target *task
	for _, t := range m.tasks {
		if t.id == id && !t.deleted {
			target = t
		}
	}
	if target == nil {
		return nil, errf(404, "task not found")
	}
	if target.uid == vagon.OutputsTaskUID {
		return nil, errf(4219, `the default "Outputs" task cannot be deleted`)
	}
	if m.status != vagon.StatusOff {
		return nil, errf(4206, fmt.Sprintf("machine is running: it is %s", m.status))
	}
	wasActive := target.active
	target.active, target.deleted, target.deletedAt = false, true, c.now
	if wasActive {
		o := m.outputs()
		if o == nil {
			o = s.newTask(m, vagon.OutputsTaskUID, c.now)
		}
		o.active = true
	}
	return vagon.TaskResult{Task: taskView(target), Result: vagon.TaskDeleted, Envelope: envelope(c.now)}, nil
}

// listSoftware serves GET /software.
func (s *Sim) listSoftware(c *call) (any, *apiError) {
	return vagon.SoftwareCatalog{
		Software:   slices.Clone(software),
		BaseImages: slices.Clone(baseImages),
		Envelope:   envelope(c.now),
	}, nil
}
