// Package vagonsim simulates the Vagon Computers API: an http.Handler that
// serves the 14 machine endpoints of machines-api.md, GET /software (see
// NOTES.md), and from more-endpoints.md GET /machines/permission-fields and
// the activity log (GET /user-action-logs and its archived-download-urls:
// 30 days, at most 1000 entries a reply, no paging, either item shape,
// Options.LogShape), and GET /usage (usage.go) under BasePath, "/organization-management/v1", so demo mode,
// `dashboard sim`, unit tests and browser tests run the real client, with
// real signatures, against it:
//
//	clk := vagonsim.NewManualClock(time.Date(2026, 4, 15, 10, 0, 0, 0, time.UTC))
//	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 60, Seed: 1, Clock: clk.Now})
//	srv := httptest.NewServer(sim)
//	c := vagon.New(srv.URL+vagonsim.BasePath, "k", "s", vagon.WithClock(clk.Now))
//
// # Authentication
//
// Every request needs "Authorization: HMAC key:signature:nonce:timestamp" as
// NOTES.md defines it. The signature is checked with vagon.Sign over the
// full request path (base path included, no query) and the exact body bytes.
// A request is refused with HTTP 401 and a JSON body {client_code: 401,
// message, timestamp} when the header is missing or malformed, the key is
// not the simulator's, the timestamp (milliseconds) is more than
// MaxClockSkew (5 minutes) away from the simulator's clock either way, the
// signature does not match, or the nonce was already used. Nonces are
// remembered for 10 minutes of simulator time and then forgotten (a replay
// after that carries a stale timestamp anyway), so memory stays bounded.
// Empty Options.Key/Secret generate random credentials (Sim.Credentials).
//
// # State machine
//
// Time is Options.Clock (time.Now when nil; a ManualClock in tests).
// Transitions are computed lazily from timestamps when a machine is read;
// there are no goroutines. Durations come from Options.Durations (zero
// fields take DefaultDurations: creating 30s, warming_up 20s, turning_on
// 20s, turning_off 10s, graceful_stopping 30s, snapshot 15s).
//
//	start (only when off):   off → turning_on → ready
//	first start ever:        off → creating → warming_up → ready
//	stop (only when ready):  ready → turning_off → off
//	stop gracefully:         ready → graceful_stopping → off
//
// A start opens a session at once (end_at null, duration growing); a stop
// closes it, its duration the elapsed minutes rounded up. While a session is
// open the machine's remaining_usage (minutes) falls. latest_image_status is
// null before the first start and after a reset, in_use while the machine is
// not off, processing for the snapshot duration after it reaches off, then
// ready. A machine's first start also creates its "Outputs" task (machines
// made by POST /machines have no task until then, as the reference's create
// example shows task null). Seeded machines in resizing_disk, installing or
// region_migration settle to off within three minutes. Auto-stop thresholds
// are stored but never stop a machine.
//
// # Rules and error codes
//
// Every JSON body carries client_code, message and timestamp. The
// reference does not say which HTTP status carries each client_code; the
// simulator uses:
//
//	client_code  HTTP  when
//	200          200   success
//	400          400   invalid value: malformed JSON or a body that is not an object,
//	                   non-numeric ids, page/per_page < 1, time_left < 0, a boolean
//	                   filter not true/false, unknown status filter, auto_stop_threshold
//	                   not in {0,900,3600,10800,21600}, unknown usage_source,
//	                   expires_in < 1 (or > a year), quantity < 1 (or > 50), missing
//	                   plan_id / machine_type_id / permissions, unknown permission key
//	                   or non-boolean value, unknown region, software or base image id
//	401          401   authentication refused (see above)
//	404          404   unknown machine, plan, task or endpoint
//	405          405   known path, wrong method
//	429          429   only from the fault knobs (RateLimited), with Retry-After
//	480          402   create: balance below quantity × MachinePrice; start: balance
//	                   at or below zero, or no remaining usage with usage_source machine
//	4201         422   start when the machine is not off
//	4202         422   create without region and no Options.DefaultRegion
//	4204         422   stop when the machine is not ready
//	4205         422   machine_type_id not among the plan's types
//	4206         422   reset, set performance, task create or delete when not off
//	4216         422   task uid empty, over 255 characters, or with \ / : * ? " < > |
//	4217         422   task uid deleted before (since the last reset)
//	4218         422   task create on a seat with backup disabled
//	4219         422   deleting the "Outputs" task
//	4710         403   only from the fault knobs (APIError)
//
// Input is checked before state: for example an invalid uid gets 4216 even
// on a running machine, a type outside the plan gets 4205 before 4206, and
// deleting Outputs gets 4219 before 4206.
//
// Resetting deletes every non-default task, keeps "Outputs" and makes it
// active, and makes every deleted uid reusable; remove_files also forgets
// the Outputs folder size. Deleting the active task activates "Outputs".
// Access links are https://app.vagon.io/team/session/<random uuid>, expiring
// expires_in minutes from now.
//
// # Filters and paging
//
// GET /machines: q (case-insensitive substring of the machine name or user
// email), status, assigned (a user or a pending invitation), time_left
// (remaining_usage >= N minutes), has_session_data (sessions since the last
// reset), page (default 1) and per_page (default 20, at most 100; larger
// values are capped). count is the number of matching machines and next_page
// is null on the last page. GET /machines/{id}/tasks pages the same way
// (default per_page 25). GET /machines/{id}/sessions returns every session,
// newest first.
//
// # Seeded fleet
//
// Options.Machines machines are generated from Options.Seed and the clock's
// time at New, deterministically: about 70% assigned to named users (emails
// on example.com-style domains), a few pending invitations, several regions,
// plans 1 to 3 with their machine types (Comet, Planet, Spark, Galaxy,
// Universe, Nebula), 90 days of sessions on working days in the region's
// working hours (5 minutes to 8 hours), tasks (Outputs, some more, some
// deleted uids), one machine in each transitional status that settles over
// time, about an eighth running (a third of the ready ones idle: their last
// session ended while the machine stayed on, so nobody is connected), a few
// low on usage, a few reset, some with
// backup disabled. Options.SessionsPerMachine fixes the number of past
// sessions per machine.
//
// # Fault knobs
//
// Safe to change at any time, from any goroutine: SetLatency (fixed or
// random, real time), SetErrorRate (502/503/504 with an HTML page or an empty
// body), Enqueue (the next n requests to an endpoint get a canned Fault:
// RateLimited, GatewayError, APIError), SetMalformedRate (JSON cut short),
// SetSlowBody (the body written in delayed chunks), ClearFaults. Faults apply
// before authentication, as a proxy's would.
//
// # Counters and inspection
//
// Every request is counted by endpoint name ("POST /machines/{id}/start", see
// Endpoints) before anything else, so refused requests count too: Count,
// Counts, Total; AuthCount and AuthCounts count only authenticated ones.
// Tests read and change state directly with Machine, Sessions, AllSessions,
// Tasks, SetStatus, SetMachineName, SetBackupEnabled, SetRemainingUsage and
// SetBalance.
package vagonsim
