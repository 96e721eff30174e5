// Command dashboard is the Vagon fleet admin dashboard: a web server over the
// Vagon Computers API with an audit log in Postgres, plus its maintenance
// commands. See README.md and INTERFACES.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "dashboard:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: dashboard [command]

commands:
  serve                         run the web server (default; migrates first)
  migrate                       apply database migrations, then exit
  user create -email E -role R [-password P]   add a user (password from stdin without -password)
  user set-role -email E -role R [-pin=false]   a single sign-on user's role is pinned unless -pin=false
  user disable -email E
  user list                     id, email, role, state, sign-in method (password, oidc; pinned), last sign-in
  sim -addr HOST:PORT [-machines N] [-seed S]  run the Vagon API simulator alone
  sync                          one sessions-sync pass, then exit
  audit verify [-checkpoints F] check the audit log's hash chain (and against a checkpoint file)
  healthcheck                   exit 0 when the server on ADDR answers /healthz (for containers)`

// run is the whole program: it reads the command line and the environment
// and returns the error to report.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, getenv, stdout, stderr)
	case "user":
		return cmdUser(ctx, args, getenv, stdin, stdout, stderr)
	case "sim":
		return cmdSim(ctx, args, getenv, stdout, stderr)
	case "sync":
		return cmdSync(ctx, getenv, stdout, stderr)
	case "audit":
		if len(args) < 1 || args[0] != "verify" {
			return usageError{"audit: the only subcommand is verify\n" + usage}
		}
		return cmdAuditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, getenv, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
}
