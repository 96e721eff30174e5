package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// DefaultSpoolRetry is how often spooled audit rows are retried.
const DefaultSpoolRetry = 10 * time.Second

// Spool keeps audit rows that could not be written (an outcome row after
// the action was done, when Postgres stopped answering in between) until
// they are. Rows are held in memory and, when a file is set, appended to it
// (one JSON row a line, synced) so they survive a restart: the next start
// loads and writes them. A replica needs a file of its own.
type Spool struct {
	store *db.Store
	file  string
	log   *slog.Logger

	mu      sync.Mutex
	pending []db.AuditEvent
	flushMu sync.Mutex // one flush at a time
}

// NewSpool returns a spool writing to store. file "" keeps rows in memory
// only; otherwise rows left in it by an earlier process are loaded (write
// them with Flush or Run).
func NewSpool(store *db.Store, file string, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Spool{store: store, file: file, log: log}
	if file == "" {
		return s, nil
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: audit spool: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev db.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			log.Error("audit spool: unreadable line skipped", "file", file, "err", err.Error())
			continue
		}
		s.pending = append(s.pending, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fleet: audit spool: %w", err)
	}
	if len(s.pending) > 0 {
		log.Warn("audit spool: rows left by an earlier run will be written", "file", file, "rows", len(s.pending))
	}
	return s, nil
}

// Len returns how many rows wait to be written.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Add keeps ev until it is written. An error means the row is kept in
// memory only (the file could not be written); it is still retried.
func (s *Spool) Add(ev db.AuditEvent) error {
	ev.ID, ev.PrevHash, ev.Hash, ev.HashAlg = 0, nil, nil, ""
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, ev)
	if s.file == "" {
		return nil
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.file), 0o700); err != nil {
		return fmt.Errorf("fleet: audit spool: %w", err)
	}
	f, err := os.OpenFile(s.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("fleet: audit spool: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("fleet: audit spool: %w", err)
	}
	return nil
}

// Flush writes the waiting rows in order, stopping at the first that fails,
// and returns how many were written.
func (s *Spool) Flush(ctx context.Context) (int, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	todo := append([]db.AuditEvent(nil), s.pending...)
	s.mu.Unlock()
	if len(todo) == 0 {
		return 0, nil
	}
	written := 0
	var ferr error
	for i := range todo {
		ev := todo[i]
		if _, err := s.store.InsertAudit(ctx, &ev); err != nil {
			ferr = err
			break
		}
		written++
		s.log.Info("audit spool: outcome row written late", "id", ev.ID, "action", ev.Action, "machine", ev.MachineID, "outcome", ev.Outcome, "at", ev.At)
	}
	if written == 0 {
		return 0, ferr
	}
	s.mu.Lock()
	s.pending = s.pending[written:]
	s.mu.Unlock()
	if err := s.rewrite(); err != nil {
		s.log.Error("audit spool: could not rewrite the spool file; written rows may be written again after a restart", "file", s.file, "err", err.Error())
	}
	return written, ferr
}

// rewrite replaces the file with the rows still pending (atomically, by
// rename), under mu so no Add interleaves.
func (s *Spool) rewrite() error {
	if s.file == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := s.pending
	if len(rows) == 0 {
		err := os.Remove(s.file)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	tmp := s.file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, ev := range rows {
		b, err := json.Marshal(ev)
		if err != nil {
			f.Close()
			return err
		}
		_, _ = w.Write(b)
		_ = w.WriteByte('\n')
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

// Run retries the waiting rows every interval until ctx ends.
func (s *Spool) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSpoolRetry
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if s.Len() > 0 {
			if _, err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("audit spool: rows still not written; retrying", "rows", s.Len(), "err", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
