package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestEmailLink(t *testing.T) {
	tests := []struct{ email, href string }{
		{"ana@example.com", `href="/activity?actor=ana%40example.com"`},
		{"o'brien+it@example.com", `href="/activity?actor=o%27brien%2Bit%40example.com"`},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if err := EmailLink(tc.email).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.Contains(out, tc.href) || !strings.Contains(out, ">"+strings.ReplaceAll(tc.email, "'", "&#39;")+"</a>") {
			t.Errorf("EmailLink(%q) = %s", tc.email, out)
		}
	}
}
