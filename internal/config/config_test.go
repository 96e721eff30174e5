package config

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_defaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo() || c.Addr != DefaultAddr || c.VagonAPIURL != DefaultVagonAPIURL || c.CookieSecure || c.SyncInterval != 15*time.Minute || c.LogFormat != "text" || c.DatabaseURL != "" || c.SessionKey != nil {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestLoad_values(t *testing.T) {
	key := strings.Repeat("ab", 32)
	c, err := Load(env(map[string]string{
		"DATABASE_URL": "postgres://u@db:5432/x", "VAGON_API_KEY": "k", "VAGON_API_SECRET": "s",
		"ADDR": ":8080", "SESSION_KEY": key, "ADMIN_EMAIL": "Boss@Example.com", "ADMIN_PASSWORD": "correct horse battery",
		"SYNC_INTERVAL": "0", "LOG_FORMAT": "json",
		"AUDIT_KEY": strings.Repeat("cd", 32), "AUDIT_CHECKPOINT_FILE": "/var/lib/audit/checkpoints", "AUDIT_SPOOL_FILE": "/data/spool",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AuditKey) != 32 || c.AuditKey[0] != 0xcd || c.AuditCheckpointFile != "/var/lib/audit/checkpoints" || c.AuditSpoolFile != "/data/spool" {
		t.Fatalf("audit config = %x %q %q", c.AuditKey, c.AuditCheckpointFile, c.AuditSpoolFile)
	}
	if c.Demo() || !c.CookieSecure || c.SyncInterval != 0 || len(c.SessionKey) != 32 || c.AdminEmail != "boss@example.com" || c.LogFormat != "json" {
		t.Fatalf("config = %+v", c)
	}
}

// oidcEnv is a working single sign-on configuration with key set to v
// ("" removes it).
func oidcEnv(key, v string) map[string]string {
	m := map[string]string{
		"OIDC_ISSUER_URL": "https://login.example.com/realms/it", "OIDC_CLIENT_ID": "dash", "OIDC_CLIENT_SECRET": "supersecretvalue",
		"PUBLIC_URL": "https://dash.example.com", "OIDC_ROLE_MAP": "it=admin",
	}
	m[key] = v
	return m
}

func TestLoad_oidc(t *testing.T) {
	c, err := Load(env(map[string]string{
		"OIDC_ISSUER_URL": "https://login.microsoftonline.com/tid/v2.0", "OIDC_CLIENT_ID": "dash", "OIDC_CLIENT_SECRET": "s3",
		"PUBLIC_URL": "https://dash.example.com/", "OIDC_ROLE_MAP": "it=admin, desk=helpdesk", "OIDC_DEFAULT_ROLE": "viewer",
		"OIDC_ALLOWED_DOMAINS": "Example.com @corp.example.org", "LOCAL_LOGIN": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	o := c.OIDC
	if o == nil || c.LocalLogin || c.PublicURL != "https://dash.example.com" {
		t.Fatalf("config = %+v", c)
	}
	if o.RedirectURL != "https://dash.example.com/auth/oidc/callback" || o.PostLogoutURL != "https://dash.example.com/login" {
		t.Errorf("redirect %q, post-logout %q", o.RedirectURL, o.PostLogoutURL)
	}
	if o.RolesClaim != "groups" || o.DefaultRole != "viewer" || o.RoleMap.Len() != 2 || o.ProviderName != "Microsoft" {
		t.Errorf("oidc = %+v", o)
	}
	if strings.Join(o.AllowedDomains, " ") != "example.com corp.example.org" || strings.Join(o.Scopes, " ") != "openid email profile" {
		t.Errorf("domains %v, scopes %v", o.AllowedDomains, o.Scopes)
	}

	// Without OIDC: local login on, no OIDC; loopback http issuer allowed.
	c, err = Load(env(nil))
	if err != nil || c.OIDC != nil || !c.LocalLogin {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Load(env(oidcEnv("OIDC_ISSUER_URL", "http://127.0.0.1:9999")))
	if err != nil || c.OIDC.IssuerURL != "http://127.0.0.1:9999" || c.OIDC.ProviderName != "127.0.0.1" {
		t.Fatalf("loopback issuer: %+v %v", c.OIDC, err)
	}
}

func TestProviderName(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://login.microsoftonline.com/0000/v2.0": "Microsoft",
		"https://accounts.google.com":                 "Google",
		"https://corp.okta.com/oauth2/default":        "Okta",
		"https://sso.example.com/realms/it":           "Keycloak",
		"https://idp.example.com":                     "idp.example.com",
	} {
		u, _ := url.Parse(issuer)
		if got := ProviderName(u); got != want {
			t.Errorf("ProviderName(%s) = %q, want %q", issuer, got, want)
		}
	}
}

func TestLoad_errorsNameTheVariable(t *testing.T) {
	secret := "supersecretvalue"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad db url", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"bad api url", map[string]string{"VAGON_API_URL": "not a url"}, "VAGON_API_URL"},
		{"key without secret", map[string]string{"VAGON_API_KEY": "k"}, "VAGON_API_SECRET"},
		{"secret without key", map[string]string{"VAGON_API_SECRET": secret}, "VAGON_API_KEY"},
		{"bad addr", map[string]string{"ADDR": "8080"}, "ADDR"},
		{"bad port", map[string]string{"ADDR": "127.0.0.1:http"}, "ADDR"},
		{"short session key", map[string]string{"SESSION_KEY": "abcd"}, "SESSION_KEY"},
		{"garbage session key", map[string]string{"SESSION_KEY": "!!" + secret}, "SESSION_KEY"},
		{"short audit key", map[string]string{"AUDIT_KEY": "abcd"}, "AUDIT_KEY"},
		{"garbage audit key", map[string]string{"AUDIT_KEY": "!!" + secret}, "AUDIT_KEY"},
		{"admin email alone", map[string]string{"ADMIN_EMAIL": "a@b.c"}, "ADMIN_EMAIL"},
		{"bad admin email", map[string]string{"ADMIN_EMAIL": "nope", "ADMIN_PASSWORD": "long enough password"}, "ADMIN_EMAIL"},
		{"short admin password", map[string]string{"ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD"},
		{"bad cookie secure", map[string]string{"COOKIE_SECURE": "maybe"}, "COOKIE_SECURE"},
		{"bad sync interval", map[string]string{"SYNC_INTERVAL": "often"}, "SYNC_INTERVAL"},
		{"negative sync interval", map[string]string{"SYNC_INTERVAL": "-5m"}, "SYNC_INTERVAL"},
		{"tiny sync interval", map[string]string{"SYNC_INTERVAL": "1s"}, "SYNC_INTERVAL"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, "TRUSTED_PROXIES"},
		{"bad trusted prefix", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{"empty trusted list", map[string]string{"TRUSTED_PROXIES": " , "}, "TRUSTED_PROXIES"},

		// Single sign-on: every bad combination names its variable.
		{"public url relative", map[string]string{"PUBLIC_URL": "/dash"}, "PUBLIC_URL"},
		{"public url no scheme", map[string]string{"PUBLIC_URL": "dash.example.com"}, "PUBLIC_URL"},
		{"public url ftp", map[string]string{"PUBLIC_URL": "ftp://dash.example.com"}, "PUBLIC_URL"},
		{"public url query", map[string]string{"PUBLIC_URL": "https://dash.example.com/?a=b"}, "PUBLIC_URL"},
		{"public url user info", map[string]string{"PUBLIC_URL": "https://u:" + secret + "@dash.example.com"}, "PUBLIC_URL"},
		{"bad local login", map[string]string{"LOCAL_LOGIN": "sometimes"}, "LOCAL_LOGIN"},
		{"local login off without oidc", map[string]string{"LOCAL_LOGIN": "false"}, "LOCAL_LOGIN"},
		{"client id without issuer", map[string]string{"OIDC_CLIENT_ID": "dash"}, "OIDC_ISSUER_URL"},
		{"secret without issuer", map[string]string{"OIDC_CLIENT_SECRET": secret}, "OIDC_ISSUER_URL"},
		{"role map without issuer", map[string]string{"OIDC_ROLE_MAP": "it=admin"}, "OIDC_ISSUER_URL"},
		{"issuer without client id", oidcEnv("OIDC_CLIENT_ID", ""), "OIDC_CLIENT_ID"},
		{"issuer without secret", oidcEnv("OIDC_CLIENT_SECRET", ""), "OIDC_CLIENT_SECRET"},
		{"issuer without public url", oidcEnv("PUBLIC_URL", ""), "PUBLIC_URL"},
		{"issuer not a url", oidcEnv("OIDC_ISSUER_URL", "login.example.com"), "OIDC_ISSUER_URL"},
		{"issuer over plain http", oidcEnv("OIDC_ISSUER_URL", "http://login.example.com"), "OIDC_ISSUER_URL"},
		{"issuer with user info", oidcEnv("OIDC_ISSUER_URL", "https://u:"+secret+"@login.example.com"), "OIDC_ISSUER_URL"},
		{"unknown role in map", oidcEnv("OIDC_ROLE_MAP", "it=root"), "OIDC_ROLE_MAP"},
		{"map entry without =", oidcEnv("OIDC_ROLE_MAP", "it-admins"), "OIDC_ROLE_MAP"},
		{"group mapped twice", oidcEnv("OIDC_ROLE_MAP", "it=admin,it=viewer"), "OIDC_ROLE_MAP"},
		{"unknown default role", oidcEnv("OIDC_DEFAULT_ROLE", "guest"), "OIDC_DEFAULT_ROLE"},
		{"admin by default", oidcEnv("OIDC_DEFAULT_ROLE", "admin"), "OIDC_DEFAULT_ROLE"},
		{"neither map nor default", oidcEnv("OIDC_ROLE_MAP", ""), "OIDC_ROLE_MAP"},
		{"bad allowed domain", oidcEnv("OIDC_ALLOWED_DOMAINS", "example.com, not a domain"), "OIDC_ALLOWED_DOMAINS"},
		{"allowed domain without dot", oidcEnv("OIDC_ALLOWED_DOMAINS", "localhost"), "OIDC_ALLOWED_DOMAINS"},
		{"roles claim with space", oidcEnv("OIDC_ROLES_CLAIM", "my groups"), "OIDC_ROLES_CLAIM"},
		{"scopes without openid", oidcEnv("OIDC_SCOPES", "email profile"), "OIDC_SCOPES"},
		{"long provider name", oidcEnv("OIDC_PROVIDER_NAME", strings.Repeat("x", 41)), "OIDC_PROVIDER_NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil {
				t.Fatal("want error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want+":") || strings.Contains(msg, "\n") || strings.Contains(msg, secret) {
				t.Fatalf("error %q should start with %s: and be one line without secrets", msg, tt.want)
			}
		})
	}
}

func TestLoad_cookieSecureFollowsAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", false}, {"localhost:80", false}, {"[::1]:8080", false},
		{":8080", true}, {"0.0.0.0:8080", true}, {"10.0.0.5:8080", true},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"ADDR": tt.addr}))
		if err != nil || c.CookieSecure != tt.want {
			t.Errorf("ADDR=%s: secure=%v err=%v", tt.addr, c.CookieSecure, err)
		}
	}
}

func TestLoad_trustedProxies(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{" 10.1.2.3/8 , 192.168.0.7,fd00::/8 ", "10.0.0.0/8 192.168.0.7/32 fd00::/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		c, err := Load(env(map[string]string{"TRUSTED_PROXIES": tt.env}))
		if err != nil {
			t.Errorf("TRUSTED_PROXIES=%q: %v", tt.env, err)
			continue
		}
		var got []string
		for _, p := range c.TrustedProxies {
			got = append(got, p.String())
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("TRUSTED_PROXIES=%q: %q, want %q", tt.env, s, tt.want)
		}
	}
}
