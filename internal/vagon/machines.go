package vagon

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// pathID escapes a machine or task id for a path, refusing empty ones.
func pathID(what, id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errorf("%s id is empty", what)
	}
	return url.PathEscape(id), nil
}

func (o *ListMachinesOptions) values() url.Values {
	v := url.Values{}
	if o == nil {
		return v
	}
	if o.Q != "" {
		v.Set("q", o.Q)
	}
	if o.Status != "" {
		v.Set("status", o.Status)
	}
	if o.Assigned != nil {
		v.Set("assigned", strconv.FormatBool(*o.Assigned))
	}
	if o.TimeLeft != nil {
		v.Set("time_left", strconv.Itoa(*o.TimeLeft))
	}
	if o.HasSessionData != nil {
		v.Set("has_session_data", strconv.FormatBool(*o.HasSessionData))
	}
	if o.Page > 0 {
		v.Set("page", strconv.Itoa(o.Page))
	}
	if o.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(o.PerPage))
	}
	return v
}

// ListMachines returns one page of machines.
//
// API: GET /machines
func (c *Client) ListMachines(ctx context.Context, opts *ListMachinesOptions) (*MachineList, error) {
	out := new(MachineList)
	err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /machines", path: "/machines", query: opts.values()}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Machines walks every page of machines matching opts, following next_page.
// It stops at the first error, which it yields.
//
// API: GET /machines (repeated)
func (c *Client) Machines(ctx context.Context, opts *ListMachinesOptions) iter.Seq2[Machine, error] {
	return func(yield func(Machine, error) bool) {
		for page, err := range c.MachinePages(ctx, opts) {
			if err != nil {
				yield(Machine{}, err)
				return
			}
			for _, m := range page.Machines {
				if !yield(m, nil) {
					return
				}
			}
		}
	}
}

// MachinePages walks the pages of machines matching opts from opts.Page (1
// when unset), following next_page, and ends after a page without a next
// one (or whose next one it has already read). Each page's Page is the page
// number it asked for. It stops at the first error, which it yields.
//
// API: GET /machines (repeated)
func (c *Client) MachinePages(ctx context.Context, opts *ListMachinesOptions) iter.Seq2[*MachineList, error] {
	return func(yield func(*MachineList, error) bool) {
		o := ListMachinesOptions{}
		if opts != nil {
			o = *opts
		}
		if o.Page < 1 {
			o.Page = 1
		}
		seen := map[int]bool{}
		for {
			seen[o.Page] = true
			page, err := c.ListMachines(ctx, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			page.Page = o.Page
			if !yield(page, nil) {
				return
			}
			if page.NextPage == nil || *page.NextPage < 1 || seen[*page.NextPage] {
				return
			}
			o.Page = *page.NextPage
		}
	}
}

// ListAllMachines collects every machine matching opts across all pages.
//
// API: GET /machines (repeated)
func (c *Client) ListAllMachines(ctx context.Context, opts *ListMachinesOptions) ([]Machine, error) {
	var all []Machine
	for m, err := range c.Machines(ctx, opts) {
		if err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return all, nil
}

// CreateMachines creates machines; it spends organization balance.
//
// API: POST /machines
func (c *Client) CreateMachines(ctx context.Context, req *CreateMachinesRequest) (*CreatedMachines, error) {
	if req == nil {
		return nil, errorf("create machines: request is nil")
	}
	out := new(CreatedMachines)
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "POST /machines", path: "/machines", body: req}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateMachine changes auto-stop and usage source; only non-nil fields are sent.
//
// API: PATCH /machines/{id}
func (c *Client) UpdateMachine(ctx context.Context, id string, req *UpdateMachineRequest) (*Machine, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = &UpdateMachineRequest{}
	}
	// The answer is a machine object beside the envelope.
	var out struct {
		Machine
		Envelope
	}
	if err := c.do(ctx, request{method: http.MethodPatch, endpoint: "PATCH /machines/{id}", path: "/machines/" + p, body: req}, &out); err != nil {
		return nil, err
	}
	return &out.Machine, nil
}

// StartMachine starts a machine.
//
// API: POST /machines/{id}/start
func (c *Client) StartMachine(ctx context.Context, id string) error {
	return c.action(ctx, "POST /machines/{id}/start", id, "/start", struct{}{})
}

// StopMachine stops a running machine; gracefully lets it save logs and recordings first.
//
// API: POST /machines/{id}/stop
func (c *Client) StopMachine(ctx context.Context, id string, gracefully bool) error {
	return c.action(ctx, "POST /machines/{id}/stop", id, "/stop", struct {
		Gracefully bool `json:"gracefully"`
	}{gracefully})
}

// ResetMachine wipes a machine back to its image; removeFiles also wipes its
// Vagon Files. Irreversible.
//
// API: POST /machines/{id}/reset
func (c *Client) ResetMachine(ctx context.Context, id string, removeFiles bool) error {
	return c.action(ctx, "POST /machines/{id}/reset", id, "/reset", struct {
		RemoveFiles bool `json:"remove_files"`
	}{removeFiles})
}

// UpdatePermissions changes the permissions that are set in u; others stay.
//
// API: POST /machines/{id}/permissions
func (c *Client) UpdatePermissions(ctx context.Context, id string, u PermissionsUpdate) error {
	if u.Empty() {
		return errorf("update permissions: no permission to change")
	}
	return c.action(ctx, "POST /machines/{id}/permissions", id, "/permissions", struct {
		Permissions PermissionsUpdate `json:"permissions"`
	}{u})
}

// SetMachineType changes a stopped machine's performance type.
//
// API: POST /machines/{id}/machine-type
func (c *Client) SetMachineType(ctx context.Context, id, machineTypeID string) error {
	n, err := strconv.ParseInt(machineTypeID, 10, 64)
	if err != nil || n < 1 {
		return errorf("set machine type: machine type id %q is not a positive integer", machineTypeID)
	}
	return c.action(ctx, "POST /machines/{id}/machine-type", id, "/machine-type", struct {
		MachineTypeID int64 `json:"machine_type_id"`
	}{n})
}

// action posts body to /machines/{id}{suffix} and expects a bare envelope.
func (c *Client) action(ctx context.Context, endpoint, id, suffix string, body any) error {
	p, err := pathID("machine", id)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodPost, endpoint: endpoint, path: "/machines/" + p + suffix, body: body}, nil)
}

// ListMachineTypes lists the performance types a machine's plan allows.
//
// API: GET /machines/{id}/available-machine-types
func (c *Client) ListMachineTypes(ctx context.Context, id string) ([]MachineType, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	out := new(MachineTypes)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /machines/{id}/available-machine-types", path: "/machines/" + p + "/available-machine-types"}, out); err != nil {
		return nil, err
	}
	return out.MachineTypes, nil
}

// CreateAccessLink issues a temporary connection link valid for expiresIn
// minutes (the API refuses less than 1). The link is a bearer credential:
// never log or store it.
//
// API: POST /machines/{id}/access
func (c *Client) CreateAccessLink(ctx context.Context, id string, expiresIn int) (*AccessLink, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	out := new(AccessLink)
	body := struct {
		ExpiresIn int `json:"expires_in"`
	}{expiresIn}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "POST /machines/{id}/access", path: "/machines/" + p + "/access", body: body, sensitive: true}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListSessions returns every session of a machine, newest first.
//
// API: GET /machines/{id}/sessions
func (c *Client) ListSessions(ctx context.Context, id string) ([]Session, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	out := new(Sessions)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /machines/{id}/sessions", path: "/machines/" + p + "/sessions"}, out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// ListTasks returns one page of a machine's tasks, newest first.
//
// API: GET /machines/{id}/tasks
func (c *Client) ListTasks(ctx context.Context, id string, opts *ListTasksOptions) (*TaskList, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts != nil && opts.Page > 0 {
		q.Set("page", strconv.Itoa(opts.Page))
	}
	if opts != nil && opts.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(opts.PerPage))
	}
	out := new(TaskList)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /machines/{id}/tasks", path: "/machines/" + p + "/tasks", query: q}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListAllTasks collects every task of a machine across all pages.
//
// API: GET /machines/{id}/tasks (repeated)
func (c *Client) ListAllTasks(ctx context.Context, id string) ([]Task, error) {
	var all []Task
	seen := map[int]bool{}
	opts := &ListTasksOptions{Page: 1, PerPage: 100}
	for {
		seen[opts.Page] = true
		page, err := c.ListTasks(ctx, id, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Tasks...)
		if page.NextPage == nil || *page.NextPage < 1 || seen[*page.NextPage] {
			return all, nil
		}
		opts.Page = *page.NextPage
	}
}

// ActivateTask creates the task uid, or reactivates it, as the machine's
// active snapshot source. Result tells which happened. Callers should check
// the uid with ValidateTaskUID first; the client sends it as given.
//
// API: POST /machines/{id}/tasks
func (c *Client) ActivateTask(ctx context.Context, id, uid string) (*TaskResult, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	out := new(TaskResult)
	body := struct {
		UID string `json:"uid"`
	}{uid}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "POST /machines/{id}/tasks", path: "/machines/" + p + "/tasks", body: body}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTask deletes a task and its folders.
//
// API: DELETE /machines/{id}/tasks/{task_id}
func (c *Client) DeleteTask(ctx context.Context, id, taskID string) (*TaskResult, error) {
	p, err := pathID("machine", id)
	if err != nil {
		return nil, err
	}
	tp, err := pathID("task", taskID)
	if err != nil {
		return nil, err
	}
	out := new(TaskResult)
	if err := c.do(ctx, request{method: http.MethodDelete, endpoint: "DELETE /machines/{id}/tasks/{task_id}", path: "/machines/" + p + "/tasks/" + tp}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListSoftware returns the software and base images new machines can use.
//
// API: GET /software
func (c *Client) ListSoftware(ctx context.Context) (*SoftwareCatalog, error) {
	out := new(SoftwareCatalog)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /software", path: "/software"}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// taskUIDForbidden are the Windows-reserved characters a task uid may not hold.
const taskUIDForbidden = `\/:*?"<>|`

// MaxTaskUIDLen is the longest task uid the API accepts.
const MaxTaskUIDLen = 255

// ValidateTaskUID checks the documented uid rules: non-empty, at most 255
// characters, none of \ / : * ? " < > |.
func ValidateTaskUID(uid string) error {
	switch {
	case strings.TrimSpace(uid) == "":
		return errorf("task uid is empty")
	case len([]rune(uid)) > MaxTaskUIDLen:
		return errorf("task uid is longer than %d characters", MaxTaskUIDLen)
	case strings.ContainsAny(uid, taskUIDForbidden):
		return errorf(`task uid may not contain any of \ / : * ? " < > |`)
	}
	return nil
}
