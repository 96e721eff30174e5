package views

import "time"

// NavAlerts is the alerts page in the top navigation (admins).
const NavAlerts = "alerts"

// AlertsView is the alerts page: the destinations, each with its delivery
// log, and the add or edit form.
type AlertsView struct {
	Webhooks []WebhookRow
	Form     WebhookForm
	// Events are the events a destination may receive, in order.
	Events []Option
	// ConfirmDeleteID is the destination whose delete is being asked
	// about (0: none), with the confirmation's single-use token.
	ConfirmDeleteID int64
	DeleteToken     string
}

// WebhookRow is one destination as shown: its URL masked, never its secret.
type WebhookRow struct {
	ID         int64
	Name       string
	MaskedURL  string
	Format     string
	EventNames []string
	HasSecret  bool
	Deliveries []DeliveryRow
}

// DeliveryRow is one delivery of the log.
type DeliveryRow struct {
	Event     string
	Status    string
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookForm is the add (ID 0) or edit form. The URL and secret are
// never put back into it: on edit, MaskedURL and HasSecret say what is
// kept when they are left empty.
type WebhookForm struct {
	ID        int64
	Name      string
	Format    string
	Events    []string
	MaskedURL string
	HasSecret bool
	Errors    map[string]string
}
