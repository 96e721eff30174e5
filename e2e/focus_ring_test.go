package e2e

// Issue 9.24, the last clause: "keep the visible focus ring". The skip link
// and "/" are covered by TestJourney_fleetTimeLeftAndKeyboard; this checks
// that every control reached by Tab on the fleet list and on a machine page
// draws a ring a sighted keyboard user can see, light and dark.

import (
	"strconv"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// focusRingJS describes the focused element's ring: its outline (style and
// width in px) and colour, the page's background colour behind it, and a
// name for messages.
const focusRingJS = `() => {
	const el = document.activeElement;
	if (!el || el === document.body) return {name: "body", style: "none", width: 0, color: "", bg: ""};
	const cs = getComputedStyle(el);
	let bg = "", n = el;
	while (n && n.nodeType === 1) {
		const c = getComputedStyle(n).backgroundColor;
		if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") { bg = c; break; }
		n = n.parentElement;
	}
	if (!bg) bg = getComputedStyle(document.documentElement).backgroundColor;
	const name = el.tagName.toLowerCase() + (el.getAttribute("data-testid") ? "[" + el.getAttribute("data-testid") + "]" : "") +
		" " + (el.textContent || el.getAttribute("aria-label") || el.getAttribute("name") || "").trim().slice(0, 40);
	return {name: name, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0, color: cs.outlineColor, bg: bg};
}`

// TestJourney_focusRingVisible (9.24): the first 25 Tab stops of the fleet
// list and of a machine page each show an outline at least 2 px wide whose
// colour is not the background's.
func TestJourney_focusRingVisible(t *testing.T) {
	t.Parallel()
	for _, scheme := range []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark} {
		t.Run(string(*scheme), func(t *testing.T) {
			page := signIn(t, "operator")
			if err := page.SetViewportSize(1440, 900); err != nil {
				t.Fatal(err)
			}
			if err := page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: scheme}); err != nil {
				t.Fatal(err)
			}
			ids := rowIDs(t, page)
			for _, path := range []string{"/machines", "/machines/" + ids[0]} {
				gotoPath(t, page, path)
				seen := 0
				for i := range 25 {
					if err := page.Keyboard().Press("Tab"); err != nil {
						t.Fatal(err)
					}
					v, err := page.Evaluate(focusRingJS)
					if err != nil {
						t.Fatal(err)
					}
					ring, _ := v.(map[string]any)
					name, _ := ring["name"].(string)
					if name == "body" {
						continue
					}
					seen++
					style, _ := ring["style"].(string)
					var width float64
					switch w := ring["width"].(type) {
					case int:
						width = float64(w)
					case float64:
						width = w
					}
					color, _ := ring["color"].(string)
					bg, _ := ring["bg"].(string)
					if style == "none" || style == "hidden" || width < 2 || color == bg {
						t.Errorf("%s, Tab stop %s (%s): outline %s %vpx %s on %s: no visible focus ring",
							path, strconv.Itoa(i+1), name, style, width, color, bg)
					}
				}
				if seen < 10 {
					t.Errorf("%s: only %d Tab stops reached a control", path, seen)
				}
			}
		})
	}
}
