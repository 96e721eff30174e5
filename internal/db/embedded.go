//go:build unix

package db

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned by StartEmbedded when no PostgreSQL server
// binaries are installed.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries found (looked at pg_config --bindir, PATH and /usr/lib/postgresql/*/bin); install PostgreSQL (e.g. apt install postgresql, brew install postgresql@15) or set DATABASE_URL")

// embeddedDatabase is the database StartEmbedded creates and returns a URL for.
const embeddedDatabase = "dashboard"

// StartEmbedded runs a private Postgres server for zero-setup use (DATABASE_URL
// unset) and returns a URL for it and a function that shuts it down.
//
// It uses the PostgreSQL binaries installed on the machine (initdb, pg_ctl,
// postgres), found through pg_config --bindir, PATH, then
// /usr/lib/postgresql/*/bin; with none it returns ErrNoPostgres (it downloads
// nothing). Everything lives under dataDir: pgdata/ (the cluster, reused
// across restarts), postgres.log, port (the loopback port, kept while free)
// and password (generated; the server asks for it, scram-sha-256). The server
// listens on 127.0.0.1 only and opens no Unix socket.
//
// Postgres refuses to run as root. When the program runs as root, the server
// runs as the owner of an existing dataDir if that is not root, else as the
// "postgres" user, else "nobody"; dataDir is given to that user. When that
// user cannot traverse dataDir's parents (a clone under /root, or in a fresh
// mktemp -d), everything is kept instead in a directory of its own under
// /var/lib/vagon-dashboard (else the system's temporary directory), named
// after dataDir, the same one on every start; dataDir/cluster links to it and
// the log says where.
//
// A server left running by a previous process that died is adopted; a stale
// postmaster.pid is handled by pg_ctl and postgres. stop shuts the server down
// ("fast" mode: open sessions are ended, data is flushed) and waits for it.
func StartEmbedded(ctx context.Context, dataDir string, log *slog.Logger) (dbURL string, stop func(context.Context) error, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wrap := func(err error) error { return fmt.Errorf("db: embedded postgres: %w", err) }

	bin, err := findPostgresBin()
	if err != nil {
		return "", nil, wrap(err)
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return "", nil, wrap(err)
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return "", nil, wrap(err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", nil, wrap(err)
	}
	run, err := pgRunner(dataDir, bin)
	if err != nil {
		return "", nil, wrap(err)
	}
	if blocked := run.blockedAt(dataDir); blocked != "" {
		// Root in /root or in a fresh mktemp -d: the server's user cannot
		// enter a parent. Keep the cluster where it can, and say where.
		moved, err := run.relocate(dataDir)
		if err != nil {
			return "", nil, wrap(fmt.Errorf("postgres runs as user %s (we are root, and it refuses root), who cannot enter %s, and no other place was usable (%v): run as a normal user, make %s traversable (chmod o+x), or set DATABASE_URL", run.name, blocked, err, blocked))
		}
		log.Info("embedded postgres: user "+run.name+" cannot enter "+blocked+", so the cluster lives outside the data directory",
			"cluster", moved, "link", filepath.Join(dataDir, clusterLink))
		dataDir = moved
	}
	if err := run.prepare(dataDir); err != nil {
		return "", nil, wrap(err)
	}

	pgdata := filepath.Join(dataDir, "pgdata")
	password, err := run.initCluster(ctx, dataDir, pgdata, log)
	if err != nil {
		return "", nil, wrap(err)
	}

	start := time.Now()
	port, adopted, err := run.startServer(ctx, dataDir, pgdata, log)
	if err != nil {
		return "", nil, wrap(err)
	}
	var once sync.Once
	var stopErr error
	stop = func(ctx context.Context) error {
		once.Do(func() {
			out, err := run.cmd(ctx, "pg_ctl", "stop", "-D", pgdata, "-m", "fast", "-w", "-t", "60").CombinedOutput()
			if err != nil {
				stopErr = wrap(fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out))))
				return
			}
			log.Info("embedded postgres stopped", "data", dataDir)
		})
		return stopErr
	}

	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	if err := ensureDatabase(ctx, u.String(), embeddedDatabase); err != nil {
		_ = stop(context.WithoutCancel(ctx))
		return "", nil, wrap(err)
	}
	u.Path = "/" + embeddedDatabase
	log.Info("embedded postgres ready", "data", dataDir, "addr", u.Host, "bin", bin,
		"run_as", run.name, "adopted", adopted, "took", time.Since(start).Round(time.Millisecond))
	return u.String(), stop, nil
}

// findPostgresBin returns a directory holding initdb, pg_ctl and postgres.
func findPostgresBin() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(debian, func(i, j int) bool { // newest major first
		return pgMajorOf(debian[i]) > pgMajorOf(debian[j])
	})
	candidates = append(candidates, debian...)
	for _, dir := range candidates {
		ok := true
		for _, exe := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, exe)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				ok = false
				break
			}
		}
		if ok {
			return dir, nil
		}
	}
	return "", ErrNoPostgres
}

// pgMajorOf reads the major version from a path like /usr/lib/postgresql/15/bin.
func pgMajorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// runner runs the Postgres programs, as another user when we are root.
type runner struct {
	bin      string
	name     string // user name, for logs
	uid, gid int
	switched bool // true when running as uid/gid rather than as ourselves
}

// pgRunner decides which user runs Postgres.
func pgRunner(dataDir, bin string) (*runner, error) {
	r := &runner{bin: bin, uid: os.Geteuid(), gid: os.Getegid(), name: "current user"}
	if r.uid != 0 {
		return r, nil
	}
	r.switched = true
	// A data dir made by a normal user's earlier run stays theirs.
	if fi, err := os.Stat(dataDir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			r.uid, r.gid = int(st.Uid), int(st.Gid)
			r.name = "uid " + strconv.Itoa(r.uid)
			if u, err := user.LookupId(strconv.Itoa(r.uid)); err == nil {
				r.name = u.Username
			}
			return r, nil
		}
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		r.uid, r.gid, r.name = uid, gid, name
		return r, nil
	}
	return nil, errors.New(`running as root and found neither a "postgres" nor a "nobody" user to run Postgres as; run as a normal user or set DATABASE_URL`)
}

// prepare gives dataDir to the server's user and checks that user can reach it.
func (r *runner) prepare(dataDir string) error {
	if !r.switched {
		return nil
	}
	if err := os.Chown(dataDir, r.uid, r.gid); err != nil {
		return err
	}
	if dir := r.blockedAt(dataDir); dir != "" {
		return fmt.Errorf("postgres runs as user %s (we are root, and it refuses root), who cannot enter %s: use a data directory elsewhere, make it traversable (chmod o+x %s), run as a normal user, or set DATABASE_URL", r.name, dir, dir)
	}
	return nil
}

// blockedAt returns the first parent of dir that the server's user cannot
// enter (no search permission for it), or "" when it can reach dir. Only a
// switched runner (we are root) can be blocked.
func (r *runner) blockedAt(dir string) string {
	if !r.switched {
		return ""
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return d
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			perm := fi.Mode().Perm()
			var can bool
			switch {
			case int(st.Uid) == r.uid:
				can = perm&0o100 != 0
			case int(st.Gid) == r.gid:
				can = perm&0o010 != 0
			default:
				can = perm&0o001 != 0
			}
			if !can {
				return d
			}
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// clusterLink is the symlink in the data directory to a relocated cluster.
const clusterLink = "cluster"

// relocateBases are where a cluster goes when its data directory is out of
// the server's user's reach, in order of preference.
var relocateBases = []string{"/var/lib/vagon-dashboard", filepath.Join(os.TempDir(), "vagon-dashboard")}

// relocate picks (and creates) the directory that holds the cluster of
// dataDir when the server's user cannot reach dataDir: under the first base
// that is a root-owned directory nobody else may write to (so no other user
// can swap it) and that the server's user can reach; named after dataDir's
// project directory plus a hash of its path, so every start finds the same
// one. dataDir/cluster is pointed at it.
func (r *runner) relocate(dataDir string) (string, error) {
	sum := sha256.Sum256([]byte(dataDir))
	project := filepath.Base(filepath.Dir(dataDir))
	project = strings.Map(func(c rune) rune {
		if c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return c
		}
		return '_'
	}, project)
	name := strings.TrimLeft(project, ".") + "-" + hex.EncodeToString(sum[:6])
	var errs []error
	for _, base := range relocateBases {
		if err := os.MkdirAll(base, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		fi, err := os.Lstat(base)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			errs = append(errs, fmt.Errorf("%s is not a directory only root may change", base))
			continue
		}
		dir := filepath.Join(base, name)
		if blocked := r.blockedAt(dir); blocked != "" {
			errs = append(errs, fmt.Errorf("user %s cannot enter %s", r.name, blocked))
			continue
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			errs = append(errs, err)
			continue
		}
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("%s is not a directory", dir))
			continue
		}
		link := filepath.Join(dataDir, clusterLink)
		if cur, err := os.Readlink(link); err != nil || cur != dir {
			_ = os.Remove(link)
			if err := os.Symlink(dir, link); err != nil {
				return "", err
			}
		}
		return dir, nil
	}
	return "", errors.Join(errs...)
}

// cmd builds a command for one of the Postgres programs.
func (r *runner) cmd(ctx context.Context, program string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, filepath.Join(r.bin, program), args...)
	env := []string{"LC_ALL=C", "LANG=C"}
	for _, kv := range os.Environ() {
		// PGDATA, PGPORT and friends would override what we pass.
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	c.Env = env
	if r.switched {
		c.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), NoSetGroups: true},
		}
	}
	return c
}

// writeFile writes a small file the server's user owns.
func (r *runner) writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if r.switched {
		return os.Chown(path, r.uid, r.gid)
	}
	return nil
}

// initCluster creates the cluster on first use and returns the password.
func (r *runner) initCluster(ctx context.Context, dataDir, pgdata string, log *slog.Logger) (string, error) {
	marker := filepath.Join(dataDir, "initialized")
	pwFile := filepath.Join(dataDir, "password")
	if _, err := os.Stat(marker); err == nil {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if err := r.checkVersion(ctx, pgdata); err != nil {
			return "", err
		}
		return strings.TrimSpace(string(pw)), nil
	}
	// No marker: a first start, or an initdb that was interrupted.
	if err := os.RemoveAll(pgdata); err != nil {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(raw)
	if err := r.writeFile(pwFile, []byte(pw+"\n")); err != nil {
		return "", err
	}
	begin := time.Now()
	c := r.cmd(ctx, "initdb", "-D", pgdata, "-U", "postgres", "--pwfile", pwFile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale=C")
	c.Dir = dataDir
	if out, err := c.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 5))
	}
	conf := "\n# Set by the dashboard's embedded mode: loopback TCP only, no Unix socket.\n" +
		"listen_addresses = '127.0.0.1'\n" +
		"unix_socket_directories = ''\n"
	f, err := os.OpenFile(filepath.Join(pgdata, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := r.writeFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n")); err != nil {
		return "", err
	}
	log.Info("embedded postgres initialized", "data", dataDir, "took", time.Since(begin).Round(time.Millisecond))
	return pw, nil
}

// checkVersion refuses a cluster made by another major version of Postgres,
// with a message rather than a server log line.
func (r *runner) checkVersion(ctx context.Context, pgdata string) error {
	b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION"))
	if err != nil {
		return err
	}
	have := strings.TrimSpace(string(b))
	out, err := r.cmd(ctx, "postgres", "-V").Output()
	if err != nil {
		return fmt.Errorf("postgres -V: %w", err)
	}
	// "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return fmt.Errorf("postgres -V: unexpected output %q", out)
	}
	major, _, _ := strings.Cut(fields[2], ".")
	if major != have {
		return fmt.Errorf("the data in %s was made by PostgreSQL %s but the binaries in %s are version %s: install PostgreSQL %s, move the directory away, or set DATABASE_URL", pgdata, have, r.bin, major, have)
	}
	return nil
}

// startServer starts the server, or adopts one already running on pgdata,
// and returns its port.
func (r *runner) startServer(ctx context.Context, dataDir, pgdata string, log *slog.Logger) (port int, adopted bool, err error) {
	switch pid, p, state := postmasterState(pgdata); state {
	case postmasterRunning:
		log.Warn("embedded postgres already running, reusing it", "pid", pid, "port", p)
		return p, true, nil
	case postmasterPIDReused:
		// Postgres would take the live process for a running server and
		// refuse to start; the file is stale, since its pid is no postgres.
		log.Warn("removing stale postmaster.pid: its pid is no longer a running postgres", "pid", pid)
		if err := os.Remove(filepath.Join(pgdata, "postmaster.pid")); err != nil {
			return 0, false, err
		}
	}
	portFile := filepath.Join(dataDir, "port")
	if b, err := os.ReadFile(portFile); err == nil {
		port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if port == 0 || !portFree(port) {
		if port, err = freePort(); err != nil {
			return 0, false, err
		}
		if err := r.writeFile(portFile, []byte(strconv.Itoa(port)+"\n")); err != nil {
			return 0, false, err
		}
	}
	logFile := filepath.Join(dataDir, "postgres.log")
	c := r.cmd(ctx, "pg_ctl", "start", "-D", pgdata, "-l", logFile, "-o", "-p "+strconv.Itoa(port), "-w", "-t", "60", "-s")
	c.Dir = dataDir
	if out, err := c.CombinedOutput(); err != nil {
		tail, _ := os.ReadFile(logFile)
		return 0, false, fmt.Errorf("pg_ctl start: %w: %s %s", err, strings.TrimSpace(string(out)), lastLines(string(tail), 5))
	}
	return port, false, nil
}

// States of the postmaster.pid file.
const (
	postmasterNone      = iota // no file, or unreadable: nothing running
	postmasterDead             // its pid is gone: postgres cleans up by itself
	postmasterRunning          // its pid is a live postgres
	postmasterPIDReused        // its pid is another program's now, or a zombie
)

// postmasterState reads pgdata/postmaster.pid and reports the postmaster's
// pid, port and state. Telling a reused pid needs /proc; without it, a live
// pid counts as running.
func postmasterState(pgdata string) (pid, port, state int) {
	f, err := os.Open(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, 0, postmasterNone
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	// Line 1 is the pid, line 4 the port (see pidfile.h).
	if len(lines) < 4 {
		return 0, 0, postmasterNone
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, postmasterNone
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return pid, port, postmasterDead
	}
	// /proc/<pid>/stat: "pid (comm) state ..."; a zombie (a killed server
	// nobody reaped, as under some container inits) counts as reused too,
	// because postgres would take it for alive.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || close < open || len(stat) < close+3 {
			return pid, port, postmasterRunning
		}
		comm, state := string(stat[open+1:close]), stat[close+2]
		if comm != "postgres" || state == 'Z' {
			return pid, port, postmasterPIDReused
		}
	}
	return pid, port, postmasterRunning
}

// portFree reports whether a loopback TCP port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ensureDatabase creates the named database when missing.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// lastLines keeps the end of a program's output for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
