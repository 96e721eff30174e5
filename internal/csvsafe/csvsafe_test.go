package csvsafe

import "testing"

func TestCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// Plain text and empty cells are untouched.
		{"", ""},
		{"desk-104", "desk-104"},
		{"Ann O'Neil", "Ann O'Neil"},
		{"a=b", "a=b"},
		{"100", "100"},
		{"ann@example.com", "ann@example.com"},
		{"  plain", "  plain"},
		{"日本語", "日本語"},
		// The ASCII formula characters.
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"+1", "'+1"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		// Tab, carriage return and newline at the start.
		{"\tx", "'\tx"},
		{"\rY", "'\rY"},
		{"\nz", "'\nz"},
		// Whitespace before a formula character.
		{" =cmd", "' =cmd"},
		{"   +1", "'   +1"},
		{"\t=1+1", "'\t=1+1"},
		{"\r\n=1+1", "'\r\n=1+1"},
		{"\n@SUM(A1)", "'\n@SUM(A1)"},
		{"\u00a0=1", "'\u00a0=1"}, // no-break space
		{"\u3000=1", "'\u3000=1"}, // ideographic space
		{"\u200b=1", "'\u200b=1"}, // zero-width space
		{"\ufeff=1", "'\ufeff=1"}, // byte-order mark
		{"\u2028-1", "'\u2028-1"}, // line separator
		// Full-width and small forms.
		{"＝cmd", "'＝cmd"},
		{"＋1", "'＋1"},
		{"－1", "'－1"},
		{"＠SUM(A1)", "'＠SUM(A1)"},
		{" ＝cmd", "' ＝cmd"},
		{"\u3000＝cmd", "'\u3000＝cmd"},
		{"﹦1", "'﹦1"},
		{"﹢1", "'﹢1"},
		{"﹣1", "'﹣1"},
		{"﹫x", "'﹫x"},
		{"−1", "'−1"},
		// Only whitespace: nothing to defuse.
		{"   ", "   "},
	}
	for _, tt := range tests {
		if got := Cell(tt.in); got != tt.want {
			t.Errorf("Cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
