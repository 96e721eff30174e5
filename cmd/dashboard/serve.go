package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/config"
	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/oidc"
	"github.com/vagon-dashboard/dashboard/internal/passwd"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/web"
)

// demoRoles are the demo users created on first start in demo mode.
var demoRoles = []string{fleet.RoleAdmin, fleet.RoleOperator, fleet.RoleHelpdesk, fleet.RoleViewer}

// env bundles what every command opens: configuration, logger, database.
type env struct {
	cfg      config.Config
	log      *slog.Logger
	store    *db.Store
	closers  []func(context.Context) error
	stdout   io.Writer
	getenv   func(string) string
	embedded bool
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := len(e.closers) - 1; i >= 0; i-- {
		_ = e.closers[i](ctx)
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// open loads the configuration, starts the embedded Postgres when
// DATABASE_URL is unset, migrates, and opens the pool.
func open(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) (*env, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, log: newLogger(cfg.LogFormat, stderr), stdout: stdout, getenv: getenv}
	url := cfg.DatabaseURL
	if url == "" {
		e.log.Info("DATABASE_URL is unset: starting the embedded Postgres", "data_dir", cfg.DataDir)
		u, stop, err := db.StartEmbedded(ctx, cfg.DataDir, e.log)
		if err != nil {
			return nil, fmt.Errorf("embedded postgres: %w (or set DATABASE_URL)", err)
		}
		url, e.embedded = u, true
		e.closers = append(e.closers, stop)
	}
	if err := db.Migrate(ctx, url); err != nil {
		e.close()
		return nil, err
	}
	store, err := db.Open(ctx, url)
	if err != nil {
		e.close()
		return nil, err
	}
	store.SetAuditKey(cfg.AuditKey)
	e.store = store
	e.closers = append(e.closers, func(context.Context) error { store.Close(); return nil })
	// River's tables come right after the app's: the job queue of bulk
	// operations and the sessions sync.
	if err := jobs.Migrate(ctx, store); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func cmdMigrate(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	e, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	applied, embedded, err := db.SchemaVersions(ctx, e.storeURL())
	if err == nil {
		fmt.Fprintf(stdout, "migrations applied: schema version %d of %d\n", applied, embedded)
	}
	return err
}

// storeURL is the URL the pool was opened with.
func (e *env) storeURL() string { return e.store.Pool().Config().ConnString() }

// apiClient returns the Vagon client: the real API, or in demo mode a
// simulator on a loopback port with random credentials.
func apiClient(ctx context.Context, e *env, metrics *web.Metrics) (*vagon.Client, error) {
	// Keep enough idle connections for the sync's concurrent calls.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	opts := []vagon.Option{vagon.WithUserAgent("vagon-dashboard/1"), vagon.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second})}
	if metrics != nil {
		opts = append(opts, vagon.WithHook(metrics.ObserveVagon))
	}
	if !e.cfg.Demo() {
		return vagon.New(e.cfg.VagonAPIURL, e.cfg.VagonAPIKey, e.cfg.VagonAPISecret, opts...)
	}
	sim := vagonsim.New(vagonsim.Options{Machines: envInt(e.getenv("DEMO_MACHINES"), 60), Seed: 1, DefaultRegion: "dublin", Durations: demoDurations(e.getenv)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.closers = append(e.closers, srv.Shutdown)
	key, secret := sim.Credentials()
	base := "http://" + ln.Addr().String() + "/organization-management/v1"
	e.log.Info("demo mode: simulated Vagon API", "url", base)
	return vagon.New(base, key, secret, opts...)
}

// demoDurations lets browser tests and impatient demos speed up the
// simulator's transitions (DEMO_TRANSITION_SECONDS, default the simulator's).
func demoDurations(getenv func(string) string) vagonsim.Durations {
	n := envInt(getenv("DEMO_TRANSITION_SECONDS"), 0)
	if n <= 0 {
		return vagonsim.Durations{}
	}
	d := time.Duration(n) * time.Second
	return vagonsim.Durations{Creating: d, WarmingUp: d, TurningOn: d, TurningOff: d, GracefulStopping: d}
}

func envInt(v string, def int) int {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n
	}
	return def
}

// sessionKey is SESSION_KEY, or one generated once and kept in the database.
func sessionKey(ctx context.Context, e *env) ([]byte, error) {
	if e.cfg.SessionKey != nil {
		return e.cfg.SessionKey, nil
	}
	return e.store.GetOrCreateSetting(ctx, "session_key", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
}

// bootstrapUsers creates ADMIN_EMAIL, and in demo mode one user per role
// with a random password printed once.
func bootstrapUsers(ctx context.Context, e *env) error {
	if e.cfg.AdminEmail != "" {
		if _, err := e.store.UserByEmail(ctx, e.cfg.AdminEmail); errors.Is(err, db.ErrNotFound) {
			hash, err := passwd.Hash(e.cfg.AdminPassword)
			if err != nil {
				return err
			}
			if _, err := e.store.CreateUser(ctx, e.cfg.AdminEmail, fleet.RoleAdmin, hash); err != nil && !errors.Is(err, db.ErrEmailTaken) {
				return err
			}
			e.log.Info("created admin from ADMIN_EMAIL", "email", e.cfg.AdminEmail)
		} else if err != nil {
			return err
		}
	}
	if !e.cfg.Demo() {
		return nil
	}
	for _, role := range demoRoles {
		email := role + "@demo.local"
		if _, err := e.store.UserByEmail(ctx, email); err == nil {
			continue
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		pw := hex.EncodeToString(b)
		hash, err := passwd.Hash(pw)
		if err != nil {
			return err
		}
		if _, err := e.store.CreateUser(ctx, email, role, hash); err != nil {
			if errors.Is(err, db.ErrEmailTaken) {
				continue // another replica created it
			}
			return err
		}
		// Printed once, on the terminal only (not through the logger).
		fmt.Fprintf(e.stdout, "demo user created: %-22s role %-8s password %s\n", email, role, pw)
	}
	return nil
}

// singleSignOn builds the OpenID relying party of OIDC_*, nil without
// OIDC_ISSUER_URL. The provider's discovery document is read once now, in
// the background, to log a mistake early; a provider that is down does not
// stop the dashboard (password sign-in works, and single sign-on tries
// again at the next sign-in).
func singleSignOn(ctx context.Context, e *env) (*web.SSO, error) {
	o := e.cfg.OIDC
	if o == nil {
		return nil, nil
	}
	client, err := oidc.New(oidc.Config{IssuerURL: o.IssuerURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		RedirectURL: o.RedirectURL, Scopes: o.Scopes, RolesClaim: o.RolesClaim})
	if err != nil {
		return nil, fmt.Errorf("OIDC_ISSUER_URL: %w", err)
	}
	go func() {
		if err := client.Discover(ctx); err != nil {
			e.log.Warn("single sign-on: the provider's discovery document cannot be read yet; password sign-in works, single sign-on retries at the next sign-in",
				"issuer", o.IssuerURL, "err", err.Error())
			return
		}
		e.log.Info("single sign-on ready", "issuer", o.IssuerURL, "redirect_url", o.RedirectURL, "provider", o.ProviderName)
	}()
	if !e.cfg.LocalLogin && e.cfg.AdminEmail == "" {
		e.log.Warn("LOCAL_LOGIN=false without ADMIN_EMAIL: no break-glass password sign-in; if the provider is down, no one can sign in")
	}
	return &web.SSO{Client: client, ProviderName: o.ProviderName, RoleMap: o.RoleMap, DefaultRole: o.DefaultRole,
		AllowedDomains: o.AllowedDomains, PostLogoutURL: o.PostLogoutURL}, nil
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{"serve takes no arguments; configure it with environment variables (see README)"}
	}
	e, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	metrics := web.NewMetrics(nil)
	api, err := apiClient(ctx, e, metrics)
	if err != nil {
		return err
	}
	key, err := sessionKey(ctx, e)
	if err != nil {
		return err
	}
	if err := bootstrapUsers(ctx, e); err != nil {
		return err
	}
	// Outcome rows the audit log could not take (Postgres gone between an
	// action and its outcome) wait in this file until they are written.
	spool, err := fleet.NewSpool(e.store, e.cfg.AuditSpoolFile, e.log)
	if err != nil {
		return fmt.Errorf("AUDIT_SPOOL_FILE: %w", err)
	}
	svc := fleet.NewService(api, e.store, fleet.ServiceOptions{Log: e.log, AuditSpool: spool})
	bulk := fleet.NewBulk(svc, fleet.BulkOptions{Log: e.log})
	// Background work runs on River: bulk operations, and the periodic
	// sessions sync and activity-log import (SYNC_INTERVAL, once per
	// interval across replicas) and
	// the schedules (a tick claims due runs, a job per run executes it).
	sched := fleet.NewScheduler(svc, fleet.SchedulerOptions{Log: e.log, MayAct: web.ScheduleMayAct})
	alerts := fleet.NewAlerts(svc, fleet.AlertsOptions{Log: e.log})
	q, err := jobs.New(e.store, jobs.Config{Bulk: bulk, Syncer: newSyncer(e, svc, metrics), Scheduler: sched, Alerts: alerts,
		Activity:     fleet.NewActivityImporter(svc.API(), e.store, fleet.ActivityOptions{Log: e.log}),
		SyncInterval: e.cfg.SyncInterval, RescueAfter: e.cfg.JobsRescueAfter, Log: e.log})
	if err != nil {
		return err
	}
	bulk.SetQueue(q)
	sched.SetQueue(q)
	alerts.SetQueue(q)
	svc.SetAlerts(alerts)
	sso, err := singleSignOn(ctx, e)
	if err != nil {
		return err
	}
	h, err := web.New(web.Deps{Store: e.store, API: api, Log: e.log, SessionKey: key, CookieSecure: e.cfg.CookieSecure,
		Demo: e.cfg.Demo(), Metrics: metrics, Fleet: svc, Bulk: bulk, Scheduler: sched, Alerts: alerts, TrustedProxies: e.cfg.TrustedProxies,
		Jobs: jobs.NewAdmin(q.Client()).WithBulk(bulk).WithScheduler(sched), ActivityNow: q.ActivityNow,
		SSO: sso, LocalLoginDisabled: !e.cfg.LocalLogin, BreakGlassEmail: e.cfg.AdminEmail})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: listen on %s: %w", e.cfg.Addr, err)
	}
	bg, stopBg := context.WithCancel(ctx)
	defer stopBg()
	if e.cfg.AuditKey == nil {
		e.log.Warn("AUDIT_KEY is unset: the audit log is chained with plain SHA-256, so whoever owns the audit_events table can edit rows and recompute the chain undetected; set AUDIT_KEY (see README)")
	}
	cp := fleet.NewCheckpointer(e.store, e.cfg.AuditKey, e.cfg.AuditCheckpointFile, e.log)
	// The checkpointer outlives the other background work, so its last
	// checkpoint comes after the last audit row this process writes.
	cpCtx, stopCp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCp()
	cpDone := make(chan struct{})
	go func() { defer close(cpDone); cp.Run(cpCtx, fleet.DefaultCheckpointInterval) }()
	go spool.Run(bg, fleet.DefaultSpoolRetry)
	// Signed-in sessions are kept in memory between requests while this
	// replica hears every change to users and sessions (issue 13).
	go e.store.ListenAuthChanges(bg, func(err error) {
		e.log.Warn("auth listener lost; every request reads its session from Postgres until it is back", "err", err.Error())
	})
	// Resumes the bulk operations a previous process left unfinished. Its
	// context outlives the signal, so that Stop can let jobs finish.
	jctx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if err := q.Start(jctx); err != nil {
		return err
	}
	if e.cfg.SyncInterval <= 0 && e.cfg.Demo() {
		// One pass at start, so the demo's reports have data.
		if err := q.SyncNow(bg); err != nil {
			e.log.Warn("demo sync", "err", err.Error())
		}
		// And of the activity log, so the access-link ledger has Vagon's side.
		if err := q.ActivityNow(bg); err != nil {
			e.log.Warn("demo activity import", "err", err.Error())
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info("dashboard listening", "url", "http://"+ln.Addr().String(), "demo", e.cfg.Demo())
	fmt.Fprintf(stdout, "dashboard: serving on http://%s\n", ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		e.log.Warn("shutdown", "err", err.Error())
	}
	// Running jobs get a while to end (a bulk slice stops beginning
	// machines); then they are cancelled and resume at the next start.
	q.Stop(jobs.DefaultSoftStop)
	stopBg()
	stopCp()
	<-cpDone
	return nil
}
