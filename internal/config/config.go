// Package config reads the dashboard's configuration from the environment
// (the variables of INTERFACES.md) and validates it once, with errors that
// name the variable.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Config is the whole configuration of the dashboard.
type Config struct {
	DatabaseURL    string // empty: embedded Postgres under DataDir
	DataDir        string // where the embedded Postgres keeps its data
	VagonAPIURL    string
	VagonAPIKey    string // empty: demo mode
	VagonAPISecret string
	Addr           string
	SessionKey     []byte // nil: generated once and kept in the database
	AdminEmail     string
	AdminPassword  string
	CookieSecure   bool
	SyncInterval   time.Duration // 0 disables the periodic sync
	LogFormat      string        // "text" or "json"
	// TrustedProxies are the networks whose X-Forwarded-For is believed for
	// the client address (nil: none, the peer address is the client).
	TrustedProxies []netip.Prefix
	// AuditKey keys the audit log's hash chain and signs its checkpoints
	// (AUDIT_KEY, 32+ bytes). nil: plain SHA-256, which the table's owner
	// can recompute after editing rows.
	AuditKey []byte
	// AuditCheckpointFile is where signed checkpoints of the audit chain's
	// head are appended (AUDIT_CHECKPOINT_FILE); "" for the log only.
	AuditCheckpointFile string
	// AuditSpoolFile keeps outcome rows the audit log could not take yet,
	// until they are written (AUDIT_SPOOL_FILE).
	AuditSpoolFile string
	// JobsRescueAfter is how long a background job (bulk slice, sync pass,
	// schedule run) may look running before it is taken for dead and run
	// again on any replica (JOBS_RESCUE_AFTER). Every job is cut off at
	// half of it; a bulk operation works in slices of a quarter of it.
	JobsRescueAfter time.Duration
	// PublicURL is the dashboard's external URL without a trailing slash
	// (PUBLIC_URL); "" when unset.
	PublicURL string
	// OIDC is single sign-on with an OpenID provider; nil when
	// OIDC_ISSUER_URL is unset (passwords only).
	OIDC *OIDC
	// LocalLogin allows password sign-in for everyone (LOCAL_LOGIN, true by
	// default); false keeps it for ADMIN_EMAIL only.
	LocalLogin bool
}

// OIDC is the single sign-on configuration (the OIDC_* variables).
type OIDC struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// RedirectURL is PUBLIC_URL/auth/oidc/callback; PostLogoutURL is
	// PUBLIC_URL/login.
	RedirectURL   string
	PostLogoutURL string
	// Scopes are requested at the provider (OIDC_SCOPES); openid first.
	Scopes []string
	// RolesClaim names the ID token claim holding the groups
	// (OIDC_ROLES_CLAIM, default groups; a dotted path such as
	// realm_access.roles reaches into an object).
	RolesClaim string
	// RoleMap maps groups to roles (OIDC_ROLE_MAP).
	RoleMap fleet.RoleMap
	// DefaultRole is the role of a user no group maps ("" refuses them).
	DefaultRole string
	// AllowedDomains, when not empty, are the only email domains that may
	// sign in (lowercase, without "@").
	AllowedDomains []string
	// ProviderName is shown on the button ("Sign in with Okta").
	ProviderName string
}

// Demo reports whether the dashboard runs against its built-in simulator.
func (c Config) Demo() bool { return c.VagonAPIKey == "" }

// Default values of INTERFACES.md.
const (
	DefaultVagonAPIURL  = "https://api.vagon.io/organization-management/v1"
	DefaultAddr         = "127.0.0.1:8080"
	DefaultSyncInterval = 15 * time.Minute
	DefaultDataDir      = ".data"
	DefaultAuditSpool   = ".data/audit-spool.jsonl"
	// DefaultJobsRescueAfter: a replica killed mid-way through a bulk
	// operation has it resumed elsewhere within about this long.
	DefaultJobsRescueAfter = 5 * time.Minute
	// DefaultOIDCRolesClaim is the claim read for groups when
	// OIDC_ROLES_CLAIM is unset.
	DefaultOIDCRolesClaim = "groups"
	// MinJobsRescueAfter is the safe floor. A job attempt is cut off at
	// half of it (15 s here), and after the cut a bulk attempt still
	// settles its call in flight and writes its rows for at most
	// fleet.TailTimeout + fleet.BulkWriteTimeout (13 s) before it returns:
	// so a live attempt is over before the rescuer (at RescueAfter) may take
	// its job for dead and start another. Lower values let the rescuer
	// re-queue a live job (fencing then keeps the old attempt from beginning
	// machines, but its last call could overlap the new one's retry).
	// Production wants minutes.
	MinJobsRescueAfter = 30 * time.Second
	minSessionKeyBytes = 32
)

// Load builds a Config from getenv (os.Getenv in production). The error
// names the first variable that is wrong, in one line, without its value
// when the variable is a secret.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:    strings.TrimSpace(getenv("DATABASE_URL")),
		DataDir:        DefaultDataDir,
		VagonAPIURL:    strings.TrimSpace(getenv("VAGON_API_URL")),
		VagonAPIKey:    strings.TrimSpace(getenv("VAGON_API_KEY")),
		VagonAPISecret: getenv("VAGON_API_SECRET"),
		Addr:           strings.TrimSpace(getenv("ADDR")),
		AdminEmail:     strings.ToLower(strings.TrimSpace(getenv("ADMIN_EMAIL"))),
		AdminPassword:  getenv("ADMIN_PASSWORD"),
		LogFormat:      strings.TrimSpace(getenv("LOG_FORMAT")),
		SyncInterval:   DefaultSyncInterval,

		JobsRescueAfter: DefaultJobsRescueAfter,

		AuditCheckpointFile: strings.TrimSpace(getenv("AUDIT_CHECKPOINT_FILE")),
		AuditSpoolFile:      strings.TrimSpace(getenv("AUDIT_SPOOL_FILE")),
	}
	if c.AuditSpoolFile == "" {
		c.AuditSpoolFile = DefaultAuditSpool
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return Config{}, fmt.Errorf("DATABASE_URL: want postgres://user@host:port/db")
		}
	}
	if c.VagonAPIURL == "" {
		c.VagonAPIURL = DefaultVagonAPIURL
	}
	if u, err := url.Parse(c.VagonAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("VAGON_API_URL: %q is not an http(s) URL", c.VagonAPIURL)
	}
	switch {
	case c.VagonAPIKey != "" && c.VagonAPISecret == "":
		return Config{}, fmt.Errorf("VAGON_API_SECRET: must be set when VAGON_API_KEY is set")
	case c.VagonAPIKey == "" && c.VagonAPISecret != "":
		return Config{}, fmt.Errorf("VAGON_API_KEY: must be set when VAGON_API_SECRET is set (unset both for demo mode)")
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return Config{}, fmt.Errorf("ADDR: %q is not host:port", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return Config{}, fmt.Errorf("ADDR: port %q is not a number from 0 to 65535", port)
	}
	if v := strings.TrimSpace(getenv("SESSION_KEY")); v != "" {
		k, err := decodeKey(v)
		if err != nil {
			return Config{}, fmt.Errorf("SESSION_KEY: %v", err)
		}
		c.SessionKey = k
	}
	if v := strings.TrimSpace(getenv("AUDIT_KEY")); v != "" {
		k, err := decodeKey(v)
		if err != nil {
			return Config{}, fmt.Errorf("AUDIT_KEY: %v", err)
		}
		c.AuditKey = k
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		return Config{}, fmt.Errorf("ADMIN_EMAIL: set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither")
	}
	if c.AdminEmail != "" {
		if a, err := mail.ParseAddress(c.AdminEmail); err != nil || a.Address != c.AdminEmail {
			return Config{}, fmt.Errorf("ADMIN_EMAIL: %q is not an email address", c.AdminEmail)
		}
		if len(c.AdminPassword) < 12 {
			return Config{}, fmt.Errorf("ADMIN_PASSWORD: must be at least 12 characters")
		}
	}
	c.CookieSecure = !isLoopback(host)
	if v := strings.TrimSpace(getenv("COOKIE_SECURE")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("COOKIE_SECURE: %q is not true or false", v)
		}
		c.CookieSecure = b
	}
	if v := strings.TrimSpace(getenv("SYNC_INTERVAL")); v != "" {
		if v == "0" {
			c.SyncInterval = 0
		} else {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Config{}, fmt.Errorf("SYNC_INTERVAL: %q is not a Go duration such as 15m (0 disables)", v)
			}
			if d > 0 && d < 10*time.Second {
				return Config{}, fmt.Errorf("SYNC_INTERVAL: %s is too short (at least 10s, or 0 to disable)", d)
			}
			c.SyncInterval = d
		}
	}
	if v := strings.TrimSpace(getenv("JOBS_RESCUE_AFTER")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinJobsRescueAfter {
			return Config{}, fmt.Errorf("JOBS_RESCUE_AFTER: %q is not a Go duration of at least %s, such as 5m", v, MinJobsRescueAfter)
		}
		c.JobsRescueAfter = d
	}
	if v := strings.TrimSpace(getenv("TRUSTED_PROXIES")); v != "" {
		p, err := ParseTrustedProxies(v)
		if err != nil {
			return Config{}, fmt.Errorf("TRUSTED_PROXIES: %v", err)
		}
		c.TrustedProxies = p
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "text"
	case "text", "json":
	default:
		return Config{}, fmt.Errorf("LOG_FORMAT: %q is neither text nor json", c.LogFormat)
	}
	if err := loadSSO(&c, getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

// oidcVars are the variables that only mean something with
// OIDC_ISSUER_URL.
var oidcVars = []string{"OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ROLES_CLAIM", "OIDC_ROLE_MAP", "OIDC_DEFAULT_ROLE", "OIDC_ALLOWED_DOMAINS", "OIDC_SCOPES", "OIDC_PROVIDER_NAME"}

// loadSSO reads PUBLIC_URL, the OIDC_* variables and LOCAL_LOGIN, and
// refuses a combination that would start half-configured.
func loadSSO(c *Config, getenv func(string) string) error {
	if v := strings.TrimSpace(getenv("PUBLIC_URL")); v != "" {
		u, err := url.Parse(v)
		if err == nil && u.User != nil {
			return fmt.Errorf("PUBLIC_URL: must not carry a user name or password")
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("PUBLIC_URL: %q is not an absolute http(s) URL such as https://dashboard.example.com", v)
		}
		c.PublicURL = strings.TrimRight(v, "/")
	}
	c.LocalLogin = true
	if v := strings.TrimSpace(getenv("LOCAL_LOGIN")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("LOCAL_LOGIN: %q is not true or false", v)
		}
		c.LocalLogin = b
	}
	issuer := strings.TrimSpace(getenv("OIDC_ISSUER_URL"))
	if issuer == "" {
		for _, k := range oidcVars {
			if strings.TrimSpace(getenv(k)) != "" {
				return fmt.Errorf("OIDC_ISSUER_URL: must be set when %s is set", k)
			}
		}
		if !c.LocalLogin {
			return fmt.Errorf("LOCAL_LOGIN: false needs single sign-on (OIDC_ISSUER_URL), else only ADMIN_EMAIL could sign in")
		}
		return nil
	}
	u, err := url.Parse(issuer)
	if err == nil && u.User != nil {
		return fmt.Errorf("OIDC_ISSUER_URL: must not carry a user name or password")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("OIDC_ISSUER_URL: %q is not an https URL such as https://login.example.com/realms/it", issuer)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("OIDC_ISSUER_URL: %q must use https (http only on a loopback address)", issuer)
	}
	o := &OIDC{
		IssuerURL:    issuer,
		ClientID:     strings.TrimSpace(getenv("OIDC_CLIENT_ID")),
		ClientSecret: getenv("OIDC_CLIENT_SECRET"),
		RolesClaim:   strings.TrimSpace(getenv("OIDC_ROLES_CLAIM")),
		DefaultRole:  strings.TrimSpace(getenv("OIDC_DEFAULT_ROLE")),
		ProviderName: strings.TrimSpace(getenv("OIDC_PROVIDER_NAME")),
	}
	switch {
	case o.ClientID == "":
		return fmt.Errorf("OIDC_CLIENT_ID: must be set when OIDC_ISSUER_URL is set")
	case o.ClientSecret == "":
		return fmt.Errorf("OIDC_CLIENT_SECRET: must be set when OIDC_ISSUER_URL is set (register the dashboard as a confidential web client)")
	case c.PublicURL == "":
		return fmt.Errorf("PUBLIC_URL: must be set when OIDC_ISSUER_URL is set (the redirect URL is PUBLIC_URL/auth/oidc/callback)")
	}
	o.RedirectURL = c.PublicURL + "/auth/oidc/callback"
	o.PostLogoutURL = c.PublicURL + "/login"
	if o.RolesClaim == "" {
		o.RolesClaim = DefaultOIDCRolesClaim
	}
	if strings.ContainsAny(o.RolesClaim, " \t,") || strings.HasPrefix(o.RolesClaim, ".") || strings.HasSuffix(o.RolesClaim, ".") {
		return fmt.Errorf("OIDC_ROLES_CLAIM: %q is not a claim name (such as groups, roles or realm_access.roles)", o.RolesClaim)
	}
	if o.RoleMap, err = fleet.ParseRoleMap(getenv("OIDC_ROLE_MAP")); err != nil {
		return fmt.Errorf("OIDC_ROLE_MAP: %v", err)
	}
	if o.DefaultRole != "" && fleet.RoleRank(o.DefaultRole) == 0 {
		return fmt.Errorf("OIDC_DEFAULT_ROLE: unknown role %q (want one of %s)", o.DefaultRole, strings.Join(fleet.Roles, ", "))
	}
	if o.DefaultRole == fleet.RoleAdmin {
		// Everyone the provider knows (every employee, every guest
		// account in the tenant) would administer the fleet and its
		// users: admins come from a mapped group, never by default.
		return fmt.Errorf("OIDC_DEFAULT_ROLE: %s would make every account of the provider an admin; map an admins group in OIDC_ROLE_MAP instead", fleet.RoleAdmin)
	}
	if o.RoleMap.Len() == 0 && o.DefaultRole == "" {
		return fmt.Errorf("OIDC_ROLE_MAP: set it (group=role,...) or OIDC_DEFAULT_ROLE, else no one can sign in with single sign-on")
	}
	for _, d := range strings.FieldsFunc(getenv("OIDC_ALLOWED_DOMAINS"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		if !validDomain(d) {
			return fmt.Errorf("OIDC_ALLOWED_DOMAINS: %q is not an email domain such as example.com", d)
		}
		o.AllowedDomains = append(o.AllowedDomains, d)
	}
	o.Scopes = []string{"openid", "email", "profile"}
	if v := strings.TrimSpace(getenv("OIDC_SCOPES")); v != "" {
		o.Scopes = strings.Fields(v)
		if !slices.Contains(o.Scopes, "openid") {
			return fmt.Errorf("OIDC_SCOPES: %q must include openid", v)
		}
	}
	if len(o.ProviderName) > 40 {
		return fmt.Errorf("OIDC_PROVIDER_NAME: at most 40 characters")
	}
	if o.ProviderName == "" {
		o.ProviderName = ProviderName(u)
	}
	c.OIDC = o
	return nil
}

// ProviderName guesses a provider's name for the sign-in button from its
// issuer URL; OIDC_PROVIDER_NAME overrides it.
func ProviderName(issuer *url.URL) string {
	host := strings.ToLower(issuer.Hostname())
	switch {
	case host == "login.microsoftonline.com" || strings.HasSuffix(host, ".microsoftonline.com") || strings.HasSuffix(host, ".ciamlogin.com"):
		return "Microsoft"
	case host == "accounts.google.com":
		return "Google"
	case strings.HasSuffix(host, ".okta.com") || strings.HasSuffix(host, ".oktapreview.com"):
		return "Okta"
	case strings.Contains(issuer.Path, "/realms/"):
		return "Keycloak"
	}
	return host
}

// validDomain reports whether d looks like a DNS name with a dot.
func validDomain(d string) bool {
	if len(d) < 3 || len(d) > 253 || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// ParseTrustedProxies reads a comma-separated list of CIDRs (10.0.0.0/8,
// fd00::/8); a bare address stands for itself alone (/32 or /128).
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q names no network", v)
	}
	return out, nil
}

// decodeKey reads a session key as hex or base64 (standard or URL, padded or
// not) and requires at least 32 bytes. It never echoes the key.
func decodeKey(v string) ([]byte, error) {
	var k []byte
	if b, err := hex.DecodeString(v); err == nil {
		k = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(v); err == nil {
				k = b
				break
			}
		}
	}
	if k == nil {
		return nil, fmt.Errorf("not hex or base64")
	}
	if len(k) < minSessionKeyBytes {
		return nil, fmt.Errorf("too short: %d bytes, need at least %d (e.g. openssl rand -hex 32)", len(k), minSessionKeyBytes)
	}
	return k, nil
}

// isLoopback reports whether a listen host is a loopback address or name.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
