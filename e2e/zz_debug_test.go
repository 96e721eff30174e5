package e2e

import (
	"testing"

	"github.com/playwright-community/playwright-go"
)

func TestZZDebugWide(t *testing.T) {
	page := signIn(t, "admin")
	_ = page.SetViewportSize(390, 844)
	gotoPath(t, page, "/reports/usage?group=machine&preset=last_90_days")
	s := evalStr(t, page, `() => { const out=[]; for (const el of document.querySelectorAll('body *')) { const r=el.getBoundingClientRect(); if (r.right > innerWidth+1) out.push(el.tagName+'.'+el.className+'#'+el.id+' right='+Math.round(r.right)+' w='+Math.round(r.width)); } return out.slice(0,25).join('\n'); }`)
	t.Log("\n" + s)
	_, _ = page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String("/tmp/usage390.png"), FullPage: playwright.Bool(true)})
}
