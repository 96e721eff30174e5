package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/passwd"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// roles are the -role choices, lowest first: fleet's list.
var roles = fleet.Roles

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{fs.Name() + ": " + err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

func checkRole(r string) error {
	if !slices.Contains(roles, r) {
		return usageError{fmt.Sprintf("-role %q: want one of %s", r, strings.Join(roles, ", "))}
	}
	return nil
}

func cmdUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"user: want create, set-role, disable or list\n" + usage}
	}
	sub, args := args[0], args[1:]
	fs := newFlags("user "+sub, stderr)
	email := fs.String("email", "", "the user's email")
	role := fs.String("role", "", "viewer, helpdesk, operator or admin")
	password := fs.String("password", "", "the password (read from stdin when absent)")
	pin := fs.Bool("pin", true, "set-role of a single sign-on user: keep the role at every sign-in whatever the provider's groups say (-pin=false lets them decide again)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pinGiven := false
	fs.Visit(func(f *flag.Flag) { pinGiven = pinGiven || f.Name == "pin" })
	if pinGiven && sub != "set-role" {
		return usageError{"-pin: only for set-role"}
	}
	*email = db.NormalizeEmail(*email)
	needEmail := func() error {
		if *email == "" || !strings.Contains(*email, "@") {
			return usageError{"-email: a valid email is required"}
		}
		return nil
	}
	switch sub {
	case "create":
		if err := needEmail(); err != nil {
			return err
		}
		if err := checkRole(*role); err != nil {
			return err
		}
		pw := *password
		if pw == "" {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read password from stdin: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if len(pw) < 12 {
			return usageError{"password: must be at least 12 characters"}
		}
		e, err := open(ctx, getenv, stdout, stderr)
		if err != nil {
			return err
		}
		defer e.close()
		hash, err := passwd.Hash(pw)
		if err != nil {
			return err
		}
		var u db.User
		err = cliAudit(e).Do(ctx, cliActor("user create"), fleet.ActUserCreate, "",
			fleet.Params{"email": *email, "role": *role, "method": db.LoginPassword},
			func(ctx context.Context, _ fleet.Params) error {
				var err error
				u, err = e.store.CreateUser(ctx, *email, *role, hash)
				return err
			})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s (%s), id %d\n", u.Email, u.Role, u.ID)
		return nil
	case "set-role", "disable":
		if err := needEmail(); err != nil {
			return err
		}
		if sub == "set-role" {
			if err := checkRole(*role); err != nil {
				return err
			}
		}
		e, err := open(ctx, getenv, stdout, stderr)
		if err != nil {
			return err
		}
		defer e.close()
		u, err := e.store.UserByEmail(ctx, *email)
		if errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		if err != nil {
			return err
		}
		if sub == "set-role" {
			// A single sign-on user's role is taken from the provider's
			// groups at every sign-in; an admin who sets it here means it
			// to stay, so it is pinned unless -pin=false says otherwise.
			// A password-only user's pin is left as it is (it matters only
			// once the account is linked to the provider).
			pinned := u.RolePinned
			if u.HasOIDC() || pinGiven {
				pinned = *pin
			}
			p := fleet.Params{"user_id": u.ID, "email": u.Email, "role": *role, "pinned": pinned,
				"before": map[string]any{"role": u.Role, "pinned": u.RolePinned}}
			if err := cliAudit(e).Do(ctx, cliActor("user set-role"), fleet.ActUserUpdate, "", p,
				func(ctx context.Context, _ fleet.Params) error {
					return e.store.SetUserRoleAndPin(ctx, u.ID, *role, pinned)
				}); err != nil {
				return err
			}
			switch {
			case u.HasOIDC() && pinned:
				fmt.Fprintf(stdout, "%s is now %s, pinned: single sign-on keeps this role whatever the provider's groups say (-pin=false to let them decide)\n", u.Email, *role)
			case u.HasOIDC():
				fmt.Fprintf(stdout, "%s is now %s, not pinned: the next single sign-on sets the role from the provider's groups again\n", u.Email, *role)
			default:
				fmt.Fprintf(stdout, "%s is now %s\n", u.Email, *role)
			}
			return nil
		}
		err = cliAudit(e).Do(ctx, cliActor("user disable"), fleet.ActUserUpdate, "",
			fleet.Params{"user_id": u.ID, "email": u.Email, "disabled": true, "before": map[string]any{"disabled": u.Disabled}},
			func(ctx context.Context, _ fleet.Params) error {
				return e.store.SetUserDisabled(ctx, u.ID, true)
			})
		if err == nil {
			fmt.Fprintf(stdout, "%s is disabled\n", u.Email)
		}
		return err
	case "list":
		e, err := open(ctx, getenv, stdout, stderr)
		if err != nil {
			return err
		}
		defer e.close()
		users, err := e.store.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%-6d %-40s %-9s %-8s %s\n", u.ID, u.Email, u.Role, state, signInMethods(u))
		}
		return nil
	}
	return usageError{fmt.Sprintf("user: unknown subcommand %q", sub)}
}

// signInMethods says how u can sign in, for user list: "password",
// "oidc" or "password+oidc" (a single sign-on account has no password),
// then ",pinned" when an admin pinned the role against the provider's
// groups, and the last sign-in's method and time.
func signInMethods(u db.User) string {
	var m []string
	if u.HasPassword() {
		m = append(m, "password")
	}
	if u.HasOIDC() {
		m = append(m, "oidc")
	}
	out := strings.Join(m, "+")
	if out == "" {
		out = "none"
	}
	if u.HasOIDC() && u.RolePinned {
		out += ",pinned"
	}
	if u.LastLoginAt != nil {
		out += " last " + u.LastLoginAt.UTC().Format(time.RFC3339)
		if u.LastLoginMethod != "" {
			out += " " + u.LastLoginMethod
		}
	} else {
		out += " never"
	}
	return out
}

func cmdAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", stderr)
	cpFile := fs.String("checkpoints", getenv("AUDIT_CHECKPOINT_FILE"), "checkpoint file to compare the log with (default $AUDIT_CHECKPOINT_FILE)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := open(ctx, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	v, err := e.store.VerifyAuditChain(ctx)
	if err != nil {
		return err
	}
	if v.BadID != 0 {
		return fmt.Errorf("audit log broken: first bad row id %d: %s", v.BadID, v.Reason)
	}
	fmt.Fprintf(stdout, "audit log intact: %d rows chained (%d keyed with AUDIT_KEY, %d plain sha256)\n", v.Rows, v.Keyed, v.Rows-v.Keyed)
	fmt.Fprintf(stdout, "head: row %d hash %s\n", v.HeadID, hex.EncodeToString(v.HeadHash))
	if v.Rows > v.Keyed {
		fmt.Fprintln(stdout, "note: plain sha256 rows can be rewritten undetected by whoever owns the table; only checkpoints kept outside the database vouch for them")
	}
	if *cpFile == "" {
		fmt.Fprintln(stdout, "checkpoints: none given (-checkpoints FILE or AUDIT_CHECKPOINT_FILE), so rows deleted from the end would go unnoticed")
		return nil
	}
	f, err := os.Open(*cpFile)
	if err != nil {
		return fmt.Errorf("-checkpoints: %w", err)
	}
	defer f.Close()
	rep, err := fleet.VerifyCheckpoints(ctx, e.store, e.cfg.AuditKey, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoints: %d match the log; latest %s\n", rep.Checked, fleet.FormatCheckpoint(rep.Latest))
	if rep.Unsigned > 0 {
		fmt.Fprintf(stdout, "note: %d checkpoints are unsigned (no AUDIT_KEY), so they could have been forged\n", rep.Unsigned)
	}
	return nil
}

// cmdSim runs the simulator alone, for development and curl.
func cmdSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	machines := fs.Int("machines", 60, "machines to seed")
	seed := fs.Uint64("seed", 1, "seed of the fleet")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *machines < 0 || *machines > 100000 {
		return usageError{"-machines: want 0 to 100000"}
	}
	key, secret := getenv("VAGON_API_KEY"), getenv("VAGON_API_SECRET")
	if key == "" || secret == "" {
		return usageError{"VAGON_API_KEY and VAGON_API_SECRET: set both; requests must be signed with them"}
	}
	sim := vagonsim.New(vagonsim.Options{Key: key, Secret: secret, Machines: *machines, Seed: *seed, DefaultRegion: "dublin", Durations: demoDurations(getenv)})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "vagon simulator: http://%s/organization-management/v1 (%d machines, seed %d)\n", ln.Addr(), *machines, *seed)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func cmdSync(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	return syncOnce(ctx, getenv, stdout, stderr)
}

// cliAudit is the auditor of a command-line change: every change to users
// is audited, whoever makes it (the actor is fleet.CLIActor).
func cliAudit(e *env) *fleet.Auditor {
	return fleet.NewAuditorWith(e.store, fleet.AuditorOptions{Log: e.log})
}

// cliActor is the audit actor of command, named by the operating-system
// account running it.
func cliActor(command string) fleet.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return fleet.CLIActor(name, command)
}
