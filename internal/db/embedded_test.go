//go:build unix

package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// TestStartEmbedded starts a private server in a fresh directory, migrates
// it, writes, stops it, starts it again and finds the data. As root (CI and
// these machines) it also covers running Postgres as an unprivileged user.
func TestStartEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Postgres server")
	}
	ctx := context.Background()
	// Not t.TempDir(): its 0700 parent would stop the unprivileged user that
	// runs Postgres when the test runs as root.
	base, err := os.MkdirTemp("", "dbtest-embedded-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dataDir := filepath.Join(base, ".data", "pg")
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	start := func() (string, func(context.Context) error, time.Duration) {
		t.Helper()
		begin := time.Now()
		url, stop, err := db.StartEmbedded(ctx, dataDir, log)
		if errors.Is(err, db.ErrNoPostgres) {
			t.Skipf("no PostgreSQL binaries on this machine: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stop(context.Background()) })
		return url, stop, time.Since(begin)
	}

	url, stop, first := start()
	if err := db.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "kept@example.com", "admin", "h"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pgdata", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid still there after stop: %v", err)
	}

	url2, stop2, second := start()
	checkKept(t, url2)

	// A server left running (its owner died) is adopted, not fought over.
	url3, _, third := start()
	if url3 != url2 {
		t.Fatalf("adopted server url %q, want %q", url3, url2)
	}
	if err := stop2(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// After a crash: the postmaster is killed outright, leaving its pid file.
	url4, _, _ := start()
	pidFile := filepath.Join(dataDir, "pgdata", "postmaster.pid")
	pid := readPID(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	url5, stop5, crashed := start()
	checkKept(t, url5)
	if err := stop5(ctx); err != nil {
		t.Fatal(err)
	}
	_ = url4

	// After a crash and a reboot: the pid in the stale file now belongs to
	// another program (here, this test).
	stale := fmt.Sprintf("%d\n%s\n0\n%d\n\n127.0.0.1\n0 0\nready\n", os.Getpid(), filepath.Join(dataDir, "pgdata"), 5432)
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	url6, stop6, reused := start()
	checkKept(t, url6)
	if err := stop6(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("start after a crash %v, after a crash with the pid reused %v",
		crashed.Round(time.Millisecond), reused.Round(time.Millisecond))
	t.Logf("first start (initdb) %v, second start %v, adopting a running server %v",
		first.Round(time.Millisecond), second.Round(time.Millisecond), third.Round(time.Millisecond))
}

func checkKept(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UserByEmail(ctx, "kept@example.com"); err != nil {
		t.Fatalf("data not kept across restart: %v", err)
	}
}

func readPID(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits until pid has exited (or is a zombie nobody reaps).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 100 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pid %d still running", pid)
}

// TestStartEmbedded_unreachableParent: as root, with the data directory
// inside a root-owned 0700 directory (a clone under /root, or in a fresh
// mktemp -d) that the unprivileged user running Postgres cannot enter, the
// server still starts: its cluster lives in a place that user can reach,
// the data directory links to it, and a second start finds the same data.
func TestStartEmbedded_unreachableParent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Postgres server")
	}
	if os.Geteuid() != 0 {
		t.Skip("covers running as root")
	}
	ctx := context.Background()
	base, err := os.MkdirTemp("", "dbtest-embedded-0700-") // 0700, root's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if fi, err := os.Stat(base); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("temp dir mode %v, %v; want 0700", fi.Mode(), err)
	}
	dataDir := filepath.Join(base, "clone", ".data")
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), &logs), nil))

	start := func() (string, func(context.Context) error) {
		t.Helper()
		url, stop, err := db.StartEmbedded(ctx, dataDir, log)
		if errors.Is(err, db.ErrNoPostgres) {
			t.Skipf("no PostgreSQL binaries on this machine: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stop(context.Background()) })
		return url, stop
	}
	url, stop := start()
	cluster, err := os.Readlink(filepath.Join(dataDir, "cluster"))
	if err != nil {
		t.Fatalf("no cluster link in the data directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(cluster) })
	if strings.HasPrefix(cluster, base+string(filepath.Separator)) {
		t.Fatalf("cluster %s is still inside the unreachable %s", cluster, base)
	}
	fi, err := os.Stat(filepath.Join(cluster, "pgdata"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 {
		t.Errorf("pgdata %s is root's; want the unprivileged server user's", cluster)
	}
	if !strings.Contains(logs.String(), "cluster="+cluster) {
		t.Errorf("the log does not say where the cluster is:\n%s", logs.String())
	}

	if err := db.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "kept@example.com", "admin", "h"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}

	url2, stop2 := start()
	if again, _ := os.Readlink(filepath.Join(dataDir, "cluster")); again != cluster {
		t.Errorf("second start: cluster %s, want the same %s", again, cluster)
	}
	checkKept(t, url2)
	if err := stop2(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
