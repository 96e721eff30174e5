# The two commands people use: `make run` (the demo on http://127.0.0.1:8080)
# and `make test` (everything CI runs). See README.md.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/dashboard
PKGS := ./...
# A count, not a duration: a wall-clock -fuzztime can fail with a bare
# "context deadline exceeded" and no crasher on a loaded machine (a race in
# Go's fuzz coordinator, golang/go#75804, fixed only in Go 1.27).
FUZZTIME ?= 40000x
# The Playwright driver (npm playwright-core 1.52.0, aliased as "package"),
# axe-core for the accessibility journey, and Debian's Chromium; see ../shared/recipes/browser-tests.md.
export PLAYWRIGHT_DRIVER_PATH ?= $(CURDIR)/e2e-driver/node_modules
export PLAYWRIGHT_NODEJS_PATH ?= $(shell command -v node)
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: build run test generate lint templ-check unit fuzz e2e-driver bench bench-all sim clean

build: generate
	$(GO) build -o $(BIN) ./cmd/dashboard

## run: the dashboard in demo mode (simulated Vagon API, embedded Postgres under ./.data)
run: build
	./$(BIN) serve

## sim: the Vagon API simulator alone on 127.0.0.1:8090
sim: build
	VAGON_API_KEY=$${VAGON_API_KEY:-demo-key} VAGON_API_SECRET=$${VAGON_API_SECRET:-demo-secret} ./$(BIN) sim -addr 127.0.0.1:8090

generate:
	$(GO) tool templ generate -path internal >/dev/null

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$') cmd internal 2>/dev/null | grep -v '_templ.go$$' | sort -u); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

templ-check:
	./scripts/check-templ.sh

e2e-driver:
	@if [ ! -f e2e-driver/node_modules/package/cli.js ] || [ ! -f e2e-driver/node_modules/axe-core/axe.min.js ]; then npm ci --prefix e2e-driver --no-audit --no-fund; fi

## unit + integration + browser tests, with -race, plus brief fuzzing
test: templ-check lint e2e-driver
	$(GO) test -race -count=1 -timeout 25m $(PKGS)
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMachineList$$' -fuzztime $(FUZZTIME) ./internal/vagon
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSessionsAndTasks$$' -fuzztime $(FUZZTIME) ./internal/vagon
	$(GO) test -run '^$$' -fuzz '^FuzzCheckResponse$$' -fuzztime $(FUZZTIME) ./internal/vagon

## bench: issue 13's table (fleet page, usage report, sync) from one run, each
## row with its goal and a verdict (scripts/benchtable; a few minutes)
bench:
	$(GO) run ./scripts/benchtable

## bench-all: every benchmark of every package, as go test prints them
bench-all:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
