package fleet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// DefaultCheckpointInterval is how often the audit chain's head is published.
const DefaultCheckpointInterval = 5 * time.Minute

// Between two periodic checkpoints, one is also published as soon as
// checkpointRows rows were added since the last (looked at every
// checkpointPoll), so a busy log is never long without one.
const (
	checkpointRows = 1000
	checkpointPoll = 30 * time.Second
)

// checkpointLabel separates the checkpoint signing key from other uses of
// AUDIT_KEY (the chain key is derived with another label in internal/db).
const checkpointLabel = "vagon-dashboard audit checkpoint v1"

// Checkpoint is one published head of the audit chain: the newest row's id
// and hash at a moment, signed with a key derived from AUDIT_KEY. Kept
// outside the database, it lets a reader notice rows removed from the end of
// the log, or a chain rewritten by whoever owns the table.
type Checkpoint struct {
	At   time.Time `json:"at"`
	ID   int64     `json:"id"`
	Hash string    `json:"hash"`          // hex
	Sig  string    `json:"sig,omitempty"` // hex HMAC-SHA256; empty without AUDIT_KEY
}

func checkpointKey(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkpointLabel))
	return m.Sum(nil)
}

// signature is the checkpoint's HMAC under key (AUDIT_KEY).
func (c Checkpoint) signature(key []byte) string {
	m := hmac.New(sha256.New, checkpointKey(key))
	fmt.Fprintf(m, "%s\n%d\n%s\n%s", checkpointLabel, c.ID, c.Hash, c.At.UTC().Format(time.RFC3339Nano))
	return hex.EncodeToString(m.Sum(nil))
}

// Checkpointer publishes checkpoints of the audit chain's head to the log
// and, when a file is set, appends them to it (one JSON object a line).
type Checkpointer struct {
	store *db.Store
	key   []byte
	file  string
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	lastID int64
}

// NewCheckpointer returns a Checkpointer for store's audit log. key is
// AUDIT_KEY (nil: unsigned checkpoints); file "" publishes to the log only.
func NewCheckpointer(store *db.Store, key []byte, file string, log *slog.Logger) *Checkpointer {
	if log == nil {
		log = slog.Default()
	}
	return &Checkpointer{store: store, key: key, file: file, log: log, now: time.Now, lastID: -1}
}

// Checkpoint publishes the current head, unless it is the one published
// last by this process.
func (c *Checkpointer) Checkpoint(ctx context.Context) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, hash, err := c.store.AuditHead(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{At: c.now().UTC(), ID: id, Hash: hex.EncodeToString(hash)}
	if id == c.lastID {
		return cp, nil
	}
	if c.key != nil {
		cp.Sig = cp.signature(c.key)
	}
	c.log.Info("audit checkpoint", "id", cp.ID, "hash", cp.Hash, "at", cp.At.Format(time.RFC3339Nano), "sig", cp.Sig)
	if c.file != "" {
		if err := appendCheckpoint(c.file, cp); err != nil {
			return cp, fmt.Errorf("fleet: audit checkpoint file: %w", err)
		}
	}
	c.lastID = id
	return cp, nil
}

func appendCheckpoint(path string, cp Checkpoint) error {
	line, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Run publishes a checkpoint at start, every interval, and once more when
// ctx ends (shutdown). Failures are logged at ERROR and retried next tick.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	try := func(ctx context.Context) {
		if _, err := c.Checkpoint(ctx); err != nil {
			c.log.Error("audit checkpoint failed", "err", err.Error())
		}
	}
	try(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	poll := time.NewTicker(min(interval, checkpointPoll))
	defer poll.Stop()
	for {
		select {
		case <-t.C:
			try(ctx)
		case <-poll.C:
			id, _, err := c.store.AuditHead(ctx)
			c.mu.Lock()
			due := err == nil && id-c.lastID >= checkpointRows
			c.mu.Unlock()
			if due {
				try(ctx)
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			try(sctx)
			cancel()
			return
		}
	}
}

// CheckpointReport is what VerifyCheckpoints found.
type CheckpointReport struct {
	Checked int        // checkpoints read and matched
	Latest  Checkpoint // the one with the highest id
	// Unsigned counts checkpoints whose signature could not be checked (no
	// key was given, or they were written without one).
	Unsigned int
}

// ErrCheckpointMismatch wraps every finding of VerifyCheckpoints that means
// the log or the checkpoint file was tampered with.
var ErrCheckpointMismatch = errors.New("audit log does not match its checkpoints")

// VerifyCheckpoints checks every checkpoint read from r against the audit
// log: its signature under key (AUDIT_KEY) and that the row it names still
// exists with the same hash. A row missing means rows were deleted from the
// end; a different hash means the chain was rewritten. Errors wrapping
// ErrCheckpointMismatch name the line and row.
func VerifyCheckpoints(ctx context.Context, store *db.Store, key []byte, r io.Reader) (CheckpointReport, error) {
	var rep CheckpointReport
	headID, _, err := store.AuditHead(ctx)
	if err != nil {
		return rep, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var cp Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return rep, fmt.Errorf("%w: checkpoint line %d is not a checkpoint", ErrCheckpointMismatch, line)
		}
		switch {
		case key != nil && cp.Sig != "":
			if !hmac.Equal([]byte(cp.Sig), []byte(cp.signature(key))) {
				return rep, fmt.Errorf("%w: checkpoint line %d (row %d): its signature does not match AUDIT_KEY (forged or edited)", ErrCheckpointMismatch, line, cp.ID)
			}
		case key != nil:
			return rep, fmt.Errorf("%w: checkpoint line %d (row %d) is unsigned although AUDIT_KEY is set", ErrCheckpointMismatch, line, cp.ID)
		default:
			rep.Unsigned++
		}
		want, err := hex.DecodeString(cp.Hash)
		if err != nil {
			return rep, fmt.Errorf("%w: checkpoint line %d: hash is not hex", ErrCheckpointMismatch, line)
		}
		if cp.ID > 0 {
			got, found, err := store.AuditRowHash(ctx, cp.ID)
			if err != nil {
				return rep, err
			}
			switch {
			case !found && cp.ID > headID:
				return rep, fmt.Errorf("%w: row %d of checkpoint line %d is gone: the log ends at row %d, so rows were deleted from its end", ErrCheckpointMismatch, cp.ID, line, headID)
			case !found:
				return rep, fmt.Errorf("%w: row %d of checkpoint line %d is gone (deleted)", ErrCheckpointMismatch, cp.ID, line)
			case !bytes.Equal(got, want):
				return rep, fmt.Errorf("%w: row %d has hash %x but checkpoint line %d says %s: the chain was rewritten", ErrCheckpointMismatch, cp.ID, got, line, cp.Hash)
			}
		}
		rep.Checked++
		if cp.ID >= rep.Latest.ID {
			rep.Latest = cp
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("read checkpoints: %w", err)
	}
	return rep, nil
}

// FormatCheckpoint is a checkpoint in one line for people.
func FormatCheckpoint(cp Checkpoint) string {
	return "row " + strconv.FormatInt(cp.ID, 10) + " hash " + cp.Hash + " at " + cp.At.UTC().Format(time.RFC3339)
}
