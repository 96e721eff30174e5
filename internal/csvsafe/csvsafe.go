// Package csvsafe defuses spreadsheet formula injection in CSV exports: the
// one function every CSV writer of the dashboard passes its cells through.
package csvsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Cell returns v so that a spreadsheet reads it as text, never as a formula
// (OWASP "CSV injection"): a cell that starts with a formula character
// (= + - @, or their full-width and small forms such as ＝ ＋ － ＠), possibly
// after leading spaces, tabs, newlines or invisible format characters that
// spreadsheets skip, or that starts with a tab, carriage return or newline,
// gets a leading single quote. Other cells are returned unchanged.
func Cell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '\t', '\r', '\n':
		return "'" + v
	}
	rest := strings.TrimLeftFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
	})
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" && isFormulaStart(r) {
		return "'" + v
	}
	return v
}

// isFormulaStart reports whether a spreadsheet may start a formula with r.
func isFormulaStart(r rune) bool {
	switch r {
	case '=', '+', '-', '@',
		'\uFF1D', '\uFF0B', '\uFF0D', '\uFF20', // full-width ＝ ＋ － ＠
		'\uFE66', '\uFE62', '\uFE63', '\uFE6B', // small ﹦ ﹢ ﹣ ﹫
		'\u2212': // minus sign −
		return true
	}
	return false
}
