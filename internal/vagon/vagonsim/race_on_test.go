//go:build race

package vagonsim_test

const raceEnabled = true
