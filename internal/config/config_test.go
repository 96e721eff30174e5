package config

import (
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
