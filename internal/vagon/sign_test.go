package vagon

import "testing"

func TestSign(t *testing.T) {
	// Vectors computed outside Go:
	//   printf '%s' 'key123POST/organization-management/v1/machines/12/start1700000000000nonce-abc{}' | openssl dgst -sha256 -hmac 'secret456'
	//   printf '%s' 'key123GET/organization-management/v1/machines1700000000000n1' | openssl dgst -sha256 -hmac 'secret456'
	tests := []struct {
		name, method, path, ts, nonce, body, want string
	}{
		{"post with body", "POST", "/organization-management/v1/machines/12/start", "1700000000000", "nonce-abc", "{}",
			"618700f4aec9c778bc37e46e8a76f8f08afcbac538decc8cbc4c3aed118397ca"},
		{"get without body", "GET", "/organization-management/v1/machines", "1700000000000", "n1", "",
			"79cc4b319c76b160ffb20afb3b8307850084360554d373972b9f6fec9bf8308e"},
		{"method is uppercased", "get", "/organization-management/v1/machines", "1700000000000", "n1", "",
			"79cc4b319c76b160ffb20afb3b8307850084360554d373972b9f6fec9bf8308e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sign("secret456", "key123", tt.method, tt.path, tt.ts, tt.nonce, []byte(tt.body))
			if got != tt.want {
				t.Fatalf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
	}{
		{"HMAC k:s:n:1", true},
		{"HMAC k:s:n", false},
		{"HMAC k:s:n:1:x", false},
		{"Bearer k:s:n:1", false},
		{"HMAC k::n:1", false},
		{"", false},
	}
	for _, tt := range tests {
		k, s, n, ts, ok := ParseAuthorization(tt.in)
		if ok != tt.wantOK {
			t.Errorf("ParseAuthorization(%q) ok = %v, want %v", tt.in, ok, tt.wantOK)
		}
		if ok && (k != "k" || s != "s" || n != "n" || ts != "1") {
			t.Errorf("ParseAuthorization(%q) = %q %q %q %q", tt.in, k, s, n, ts)
		}
	}
	if h := AuthorizationHeader("k", "s", "n", 1); h != "HMAC k:s:n:1" {
		t.Errorf("AuthorizationHeader = %q", h)
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(`{"gracefully":true}`)
	b.ReportAllocs()
	for b.Loop() {
		Sign("secret456", "key123", "POST", "/organization-management/v1/machines/12/stop", "1700000000000", "0123456789abcdef0123456789abcdef", body)
	}
}
