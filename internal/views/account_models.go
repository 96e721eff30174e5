package views

// AccountView is the signed-in user's own preferences page.
type AccountView struct {
	Email string
	Role  string
	// TimeZone is the chosen IANA zone, "" for the browser's own.
	TimeZone string
	Errors   map[string]string
}

// CommonTimeZones are suggestions for the time-zone field; any IANA name
// is accepted.
var CommonTimeZones = []string{
	"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
	"Europe/Amsterdam", "Europe/Madrid", "Europe/Rome", "Europe/Stockholm", "Europe/Warsaw",
	"Europe/Istanbul", "Europe/Moscow", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
	"Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
	"America/Sao_Paulo", "America/New_York", "America/Chicago", "America/Denver",
	"America/Los_Angeles", "America/Toronto", "America/Mexico_City",
}
