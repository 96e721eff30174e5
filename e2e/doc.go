// Package e2e holds the browser journeys: the real dashboard binary in demo
// mode, driven by playwright-go in headless Chromium. See harness_test.go for
// what they need and how to reuse signIn and newPage.
package e2e
