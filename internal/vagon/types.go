package vagon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ID is an identifier the API sends sometimes as a JSON string ("18") and
// sometimes as a number (42). It always marshals as a string.
type ID string

// UnmarshalJSON accepts a JSON string, a JSON integer or null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*id = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("vagon: id: %w", err)
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("vagon: id: want string or number, got %.20s", b)
	}
	if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
		return fmt.Errorf("vagon: id: want an integer, got %s", n)
	}
	*id = ID(n.String())
	return nil
}

// String returns the ID as text.
func (id ID) String() string { return string(id) }

// Status is a machine's friendly_status. Unknown values are kept as they are.
type Status string

// The machine statuses NOTES.md lists.
const (
	StatusOff              Status = "off"
	StatusCreating         Status = "creating"
	StatusTurningOn        Status = "turning_on"
	StatusReady            Status = "ready"
	StatusTurningOff       Status = "turning_off"
	StatusGracefulStopping Status = "graceful_stopping"
	StatusResizingDisk     Status = "resizing_disk"
	StatusInstalling       Status = "installing"
	StatusRegionMigration  Status = "region_migration"
	StatusWarmingUp        Status = "warming_up"
)

// KnownStatuses lists every documented status in a stable order.
var KnownStatuses = []Status{
	StatusOff, StatusCreating, StatusTurningOn, StatusReady, StatusTurningOff,
	StatusGracefulStopping, StatusResizingDisk, StatusInstalling,
	StatusRegionMigration, StatusWarmingUp,
}

// Transitional reports whether the status is on its way to another one
// (anything but off and ready, including unknown values).
func (s Status) Transitional() bool { return s != StatusOff && s != StatusReady }

// Known reports whether the status is one NOTES.md documents.
func (s Status) Known() bool {
	for _, k := range KnownStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// Auto-stop thresholds the API accepts, in seconds.
var AutoStopThresholds = []int{0, 900, 3600, 10800, 21600}

// Usage sources the API accepts.
const (
	UsageSourceMachine     = "machine"
	UsageSourceTeamBalance = "team_balance"
)

// Permission keys, in the API's documented order.
const (
	PermPublicInternetAccess = "public_internet_access"
	PermCanDownload          = "can_download_from_vagon_workstation"
	PermCanUpload            = "can_upload_to_workstation"
	PermAnalyticsCollection  = "analytics_collection_enabled"
	PermClipboard            = "clipboard_enabled"
	PermScreenRecording      = "screen_recording_enabled"
	PermInputRecording       = "input_recording_enabled"
)

// PermissionKeys lists the seven permission keys in documented order.
var PermissionKeys = []string{
	PermPublicInternetAccess, PermCanDownload, PermCanUpload,
	PermAnalyticsCollection, PermClipboard, PermScreenRecording, PermInputRecording,
}

// Permissions is a machine's full set of permissions as the API returns it.
type Permissions struct {
	PublicInternetAccess            bool `json:"public_internet_access"`
	CanDownloadFromVagonWorkstation bool `json:"can_download_from_vagon_workstation"`
	CanUploadToWorkstation          bool `json:"can_upload_to_workstation"`
	AnalyticsCollectionEnabled      bool `json:"analytics_collection_enabled"`
	ClipboardEnabled                bool `json:"clipboard_enabled"`
	ScreenRecordingEnabled          bool `json:"screen_recording_enabled"`
	InputRecordingEnabled           bool `json:"input_recording_enabled"`
}

// AsMap returns the permissions keyed by their API names.
func (p Permissions) AsMap() map[string]bool {
	return map[string]bool{
		PermPublicInternetAccess: p.PublicInternetAccess,
		PermCanDownload:          p.CanDownloadFromVagonWorkstation,
		PermCanUpload:            p.CanUploadToWorkstation,
		PermAnalyticsCollection:  p.AnalyticsCollectionEnabled,
		PermClipboard:            p.ClipboardEnabled,
		PermScreenRecording:      p.ScreenRecordingEnabled,
		PermInputRecording:       p.InputRecordingEnabled,
	}
}

// DefaultPermissions are the defaults the API documents for new machines.
func DefaultPermissions() Permissions {
	return Permissions{
		PublicInternetAccess:            true,
		CanDownloadFromVagonWorkstation: true,
		CanUploadToWorkstation:          true,
		ClipboardEnabled:                true,
	}
}

// PermissionsUpdate holds the permissions to change; a nil field is not sent,
// so "false" and "leave as it is" differ.
type PermissionsUpdate struct {
	PublicInternetAccess            *bool `json:"public_internet_access,omitempty"`
	CanDownloadFromVagonWorkstation *bool `json:"can_download_from_vagon_workstation,omitempty"`
	CanUploadToWorkstation          *bool `json:"can_upload_to_workstation,omitempty"`
	AnalyticsCollectionEnabled      *bool `json:"analytics_collection_enabled,omitempty"`
	ClipboardEnabled                *bool `json:"clipboard_enabled,omitempty"`
	ScreenRecordingEnabled          *bool `json:"screen_recording_enabled,omitempty"`
	InputRecordingEnabled           *bool `json:"input_recording_enabled,omitempty"`
}

// Set sets one permission by its API key; it reports false for an unknown key.
func (u *PermissionsUpdate) Set(key string, v bool) bool {
	p := &v
	switch key {
	case PermPublicInternetAccess:
		u.PublicInternetAccess = p
	case PermCanDownload:
		u.CanDownloadFromVagonWorkstation = p
	case PermCanUpload:
		u.CanUploadToWorkstation = p
	case PermAnalyticsCollection:
		u.AnalyticsCollectionEnabled = p
	case PermClipboard:
		u.ClipboardEnabled = p
	case PermScreenRecording:
		u.ScreenRecordingEnabled = p
	case PermInputRecording:
		u.InputRecordingEnabled = p
	default:
		return false
	}
	return true
}

// Empty reports whether no permission is set.
func (u PermissionsUpdate) Empty() bool {
	return u.PublicInternetAccess == nil && u.CanDownloadFromVagonWorkstation == nil &&
		u.CanUploadToWorkstation == nil && u.AnalyticsCollectionEnabled == nil &&
		u.ClipboardEnabled == nil && u.ScreenRecordingEnabled == nil && u.InputRecordingEnabled == nil
}

// User is the person a machine is assigned to.
type User struct {
	ID         ID     `json:"id"`
	Type       string `json:"type"`
	Attributes struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"attributes"`
}

// ActiveTask is the task a machine's snapshots currently follow.
type ActiveTask struct {
	ID        ID         `json:"id"`
	UID       string     `json:"uid"`
	CreatedAt *time.Time `json:"created_at"`
}

// MachineAttributes are a machine's fields. Usage is in minutes and sizes in
// GB (NOTES.md decides the units); network credit is in bytes.
type MachineAttributes struct {
	Name               string      `json:"name"`
	LastSessionStartAt *time.Time  `json:"last_session_start_at"`
	AutoStopThreshold  int         `json:"auto_stop_threshold"`
	FileStorageSize    int64       `json:"file_storage_size"`
	DiskSize           int64       `json:"disk_size"`
	NetworkCredit      int64       `json:"network_credit"`
	AssignedImageID    *int64      `json:"assigned_image_id"`
	AssignedImageName  *string     `json:"assigned_image_name"`
	Region             string      `json:"region"`
	MachineType        string      `json:"machine_type"`
	RemainingUsage     int64       `json:"remaining_usage"`
	DepositedUsage     int64       `json:"deposited_usage"`
	FriendlyStatus     Status      `json:"friendly_status"`
	User               *User       `json:"user"`
	Permissions        Permissions `json:"permissions"`
	UsageSource        string      `json:"usage_source"`
	Task               *ActiveTask `json:"task"`
	LatestImageStatus  *string     `json:"latest_image_status"`
}

// Machine is one cloud computer.
type Machine struct {
	ID         ID                `json:"id"`
	Type       string            `json:"type"`
	Attributes MachineAttributes `json:"attributes"`
}

// Envelope is the part every response carries.
type Envelope struct {
	ClientCode int    `json:"client_code"`
	Message    string `json:"message"`
	Timestamp  string `json:"timestamp,omitempty"`
}

// MachineList is one page of machines (GET /machines).
type MachineList struct {
	Machines []Machine `json:"machines"`
	Count    int       `json:"count"`
	Page     int       `json:"page"`
	NextPage *int      `json:"next_page"`
	Envelope
}

// ListMachinesOptions are the filters and paging of GET /machines. Nil or
// zero fields are not sent.
type ListMachinesOptions struct {
	Q              string
	Status         string
	Assigned       *bool
	TimeLeft       *int // minutes
	HasSessionData *bool
	Page           int
	PerPage        int
}

// CreateMachinesRequest is the body of POST /machines.
type CreateMachinesRequest struct {
	PlanID      int64        `json:"plan_id"`
	Quantity    int          `json:"quantity,omitempty"`
	Region      string       `json:"region,omitempty"`
	SoftwareIDs []int64      `json:"software_ids,omitempty"`
	BaseImageID *int64       `json:"base_image_id,omitempty"`
	Permissions *Permissions `json:"permissions,omitempty"`
}

// CreatedMachines is the answer to POST /machines.
type CreatedMachines struct {
	Machines []Machine `json:"machines"`
	Count    int       `json:"count"`
	Envelope
}

// UpdateMachineRequest is the body of PATCH /machines/{id}; nil fields are not sent.
type UpdateMachineRequest struct {
	AutoStopThreshold *int    `json:"auto_stop_threshold,omitempty"`
	UsageSource       *string `json:"usage_source,omitempty"`
}

// MachineTypeAttributes describe a performance type. Memory values are GB as text.
type MachineTypeAttributes struct {
	Name         string `json:"name"`
	FriendlyName string `json:"friendly_name"`
	CPU          int    `json:"cpu"`
	Memory       string `json:"memory"`
	GPU          int    `json:"gpu"`
	GPUMemory    string `json:"gpu_memory"`
}

// MachineType is one performance type a machine may use.
type MachineType struct {
	ID         ID                    `json:"id"`
	Type       string                `json:"type"`
	Attributes MachineTypeAttributes `json:"attributes"`
}

// MachineTypes is the answer to GET /machines/{id}/available-machine-types.
type MachineTypes struct {
	MachineTypes []MachineType `json:"machine_types"`
	Envelope
}

// AccessLink is a temporary connection link (POST /machines/{id}/access).
// ConnectionLink is a bearer credential: never log or store it.
type AccessLink struct {
	ID         ID     `json:"id"`
	Type       string `json:"type"`
	Attributes struct {
		ExpiresAt      time.Time `json:"expires_at"`
		ConnectionLink string    `json:"connection_link"`
	} `json:"attributes"`
	Envelope
}

// Session is one period a machine ran. Duration is in minutes; EndAt is nil
// while the session runs.
type Session struct {
	ID         ID     `json:"id"`
	Type       string `json:"type"`
	Attributes struct {
		StartAt  time.Time  `json:"start_at"`
		EndAt    *time.Time `json:"end_at"`
		Duration int64      `json:"duration"`
	} `json:"attributes"`
}

// Sessions is the answer to GET /machines/{id}/sessions, newest first.
type Sessions struct {
	Sessions []Session `json:"sessions"`
	Envelope
}

// TaskAttributes describe a snapshot task. FolderSize is in bytes, nil until recorded.
type TaskAttributes struct {
	UID                 string    `json:"uid"`
	Status              string    `json:"status"`
	SourcePath          string    `json:"source_path"`
	SnapshotDestination string    `json:"snapshot_destination"`
	FolderSize          *int64    `json:"folder_size"`
	CreatedAt           time.Time `json:"created_at"`
}

// Task is a snapshot task of a machine.
type Task struct {
	ID         ID             `json:"id"`
	Type       string         `json:"type"`
	Attributes TaskAttributes `json:"attributes"`
}

// TaskList is one page of GET /machines/{id}/tasks.
type TaskList struct {
	Tasks    []Task `json:"tasks"`
	Count    int    `json:"count"`
	Page     int    `json:"page"`
	NextPage *int   `json:"next_page"`
	Envelope
}

// ListTasksOptions page GET /machines/{id}/tasks; zero values are not sent.
type ListTasksOptions struct {
	Page    int
	PerPage int
}

// Task results of POST /machines/{id}/tasks and DELETE .../tasks/{task_id}.
const (
	TaskCreated       = "created"
	TaskReactivated   = "reactivated"
	TaskAlreadyActive = "already_active"
	TaskDeleted       = "deleted"
)

// OutputsTaskUID is the default task that can't be deleted.
const OutputsTaskUID = "Outputs"

// TaskResult is the answer to task create/activate and delete.
type TaskResult struct {
	Task   Task   `json:"task"`
	Result string `json:"result"`
	Envelope
}

// Software is an installable package (sizes in bytes).
type Software struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// BaseImage is an image new machines can start from (sizes in bytes).
type BaseImage struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

// SoftwareCatalog is the answer to GET /software.
type SoftwareCatalog struct {
	Software   []Software  `json:"software"`
	BaseImages []BaseImage `json:"base_images"`
	Envelope
}
