package db

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit outcomes, as stored in audit_events.outcome.
const (
	OutcomeStarted   = "started"
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeDenied    = "denied"
	// OutcomeUnknown: the call was sent and no definite answer came back
	// (a timeout), so whether it happened is not known.
	OutcomeUnknown = "unknown"
)

// Hash schemes of the audit chain, as stored in audit_events.hash_alg.
const (
	// HashSHA256 is hash = SHA-256(prev_hash || content). Whoever owns the
	// table can edit rows and recompute it undetected.
	HashSHA256 = "sha256"
	// HashHMACSHA256 is hash = HMAC-SHA256(k, prev_hash || content), k
	// derived from AUDIT_KEY, which the database never holds.
	HashHMACSHA256 = "hmac-sha256"
)

// auditChainLabel separates the chain key from other uses of AUDIT_KEY.
const auditChainLabel = "vagon-dashboard audit chain v1"

// SetAuditKey makes every later audit row chained with HMAC-SHA256 under a
// key derived from key (AUDIT_KEY), and lets VerifyAudit check such rows.
// Call it once, before the store is used. A nil key keeps plain SHA-256.
func (s *Store) SetAuditKey(key []byte) {
	if len(key) == 0 {
		s.auditKey = nil
		return
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(auditChainLabel))
	s.auditKey = m.Sum(nil)
}

// AuditKeyed reports whether new audit rows are keyed (SetAuditKey).
func (s *Store) AuditKeyed() bool { return s.auditKey != nil }

// auditLockKey is the pg_advisory_xact_lock key that serializes audit inserts
// across every connection and replica, so the hash chain stays linear.
const auditLockKey int64 = 0x7661676f6e_617564 // "vagon" "aud"

// auditTimeLayout is the canonical spelling of at: UTC, always six fractional
// digits (Postgres keeps microseconds).
const auditTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// genesisHash is the prev_hash of the first row.
var genesisHash = make([]byte, sha256.Size)

// AuditEvent is one row of the audit log; see INTERFACES.md for the meaning of
// each column.
type AuditEvent struct {
	ID         int64     `db:"id"` // set by InsertAudit
	At         time.Time `db:"at"` // zero: the database's clock at insert
	ActorEmail string    `db:"actor_email"`
	ActorRole  string    `db:"actor_role"`
	Action     string    `db:"action"`     // e.g. machine.start
	MachineID  string    `db:"machine_id"` // "" when none (stored as NULL)
	// Params is a JSON value, normally an object; nil means {}. InsertAudit
	// replaces it with Postgres's normalized jsonb spelling, which is what the
	// hash covers and what reads return.
	Params     json.RawMessage `db:"params"`
	Outcome    string          `db:"outcome"`    // one of the Outcome constants
	ErrorCode  *int            `db:"error_code"` // the API's client_code, if any
	Message    string          `db:"message"`
	RemoteAddr string          `db:"remote_addr"`
	UserAgent  string          `db:"user_agent"`
	RequestID  string          `db:"request_id"`
	PrevHash   []byte          `db:"prev_hash"` // set by InsertAudit
	Hash       []byte          `db:"hash"`      // set by InsertAudit
	HashAlg    string          `db:"hash_alg"`  // set by InsertAudit: HashSHA256 or HashHMACSHA256
}

const auditColumns = `id, at, actor_email, actor_role, action,
	coalesce(machine_id, '') AS machine_id, params::text AS params, outcome,
	error_code, message, remote_addr, user_agent, request_id, prev_hash, hash, hash_alg`

// InsertAudit appends ev to the audit log and returns its id. It fills in
// ev.ID, ev.At (when zero), ev.Params (normalized), ev.PrevHash and ev.Hash.
// Inserts are serialized by an advisory lock held for the transaction, so
// every row's prev_hash is the hash of the row with the next lower id.
func (s *Store) InsertAudit(ctx context.Context, ev *AuditEvent) (id int64, err error) {
	return s.insertAudit(ctx, s.pool, ev)
}

// InsertAuditTx is InsertAudit inside tx: the row exists exactly when tx
// commits. The chain's lock is held until then, so keep tx short.
func (s *Store) InsertAuditTx(ctx context.Context, tx pgx.Tx, ev *AuditEvent) (id int64, err error) {
	return s.insertAudit(ctx, tx, ev)
}

func (s *Store) insertAudit(ctx context.Context, on interface {
	Begin(context.Context) (pgx.Tx, error)
}, ev *AuditEvent) (id int64, err error) {
	params := ev.Params
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage(`{}`)
	}
	var at *time.Time
	if !ev.At.IsZero() {
		t := ev.At.UTC().Truncate(time.Microsecond)
		at = &t
	}
	row := *ev
	err = pgx.BeginFunc(ctx, on, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, auditLockKey)
		b.Queue(`SELECT
				nextval(pg_get_serial_sequence('audit_events', 'id')),
				coalesce($1::timestamptz, date_trunc('microseconds', clock_timestamp())),
				$2::jsonb::text,
				coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), $3)`,
			at, string(params), genesisHash)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		var canon string
		if err := br.QueryRow().Scan(&row.ID, &row.At, &canon, &row.PrevHash); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		row.At = row.At.UTC()
		row.Params = json.RawMessage(canon)
		row.HashAlg = HashSHA256
		if s.auditKey != nil {
			row.HashAlg = HashHMACSHA256
		}
		row.Hash = s.rowHash(row.HashAlg, row.PrevHash, &row)

		var machineID *string
		if row.MachineID != "" {
			machineID = &row.MachineID
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO audit_events (id, at, actor_email, actor_role, action, machine_id,
				params, outcome, error_code, message, remote_addr, user_agent, request_id,
				prev_hash, hash, hash_alg)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			row.ID, row.At, row.ActorEmail, row.ActorRole, row.Action, machineID,
			canon, row.Outcome, row.ErrorCode, row.Message, row.RemoteAddr, row.UserAgent,
			row.RequestID, row.PrevHash, row.Hash, row.HashAlg)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: insert audit: %w", err)
	}
	*ev = row
	return row.ID, nil
}

// rowHash is the hash of a row under scheme alg; nil for a keyed row when
// the store has no key (it cannot be computed).
func (s *Store) rowHash(alg string, prevHash []byte, ev *AuditEvent) []byte {
	switch alg {
	case HashSHA256:
		return auditHash(prevHash, ev)
	case HashHMACSHA256:
		if s.auditKey == nil {
			return nil
		}
		m := hmac.New(sha256.New, s.auditKey)
		m.Write(prevHash)
		m.Write(auditCanonical(ev))
		return m.Sum(nil)
	}
	return nil
}

// auditHash is SHA-256(prevHash || canonical content of ev); see
// auditCanonical.
func auditHash(prevHash []byte, ev *AuditEvent) []byte {
	h := sha256.New()
	h.Write(prevHash)
	h.Write(auditCanonical(ev))
	return h.Sum(nil)
}

// auditCanonical encodes the row's content (every column but prev_hash and
// hash) deterministically, as a sequence of fields in column order:
//
//	id, at, actor_email, actor_role, action, machine_id, params, outcome,
//	error_code, message, remote_addr, user_agent, request_id
//
// Each field is 0x00 for NULL, or 0x01, its length as a 4-byte big-endian
// integer, and its UTF-8 text. id and error_code are decimal; at is UTC with
// six fractional digits (2006-01-02T15:04:05.000000Z); machine_id is NULL when
// empty; params is Postgres's jsonb text output (params::text), which orders
// keys and normalizes spacing and numbers, so the encoding survives a round
// trip through the database.
func auditCanonical(ev *AuditEvent) []byte {
	var buf bytes.Buffer
	field := func(s string) {
		buf.WriteByte(1)
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		buf.Write(n[:])
		buf.WriteString(s)
	}
	null := func() { buf.WriteByte(0) }

	field(strconv.FormatInt(ev.ID, 10))
	field(ev.At.UTC().Format(auditTimeLayout))
	field(ev.ActorEmail)
	field(ev.ActorRole)
	field(ev.Action)
	if ev.MachineID == "" {
		null()
	} else {
		field(ev.MachineID)
	}
	field(string(ev.Params))
	field(ev.Outcome)
	if ev.ErrorCode == nil {
		null()
	} else {
		field(strconv.Itoa(*ev.ErrorCode))
	}
	field(ev.Message)
	field(ev.RemoteAddr)
	field(ev.UserAgent)
	field(ev.RequestID)
	return buf.Bytes()
}

// AuditFilter selects audit rows. Zero fields do not filter.
type AuditFilter struct {
	ActorEmail string // exact match
	// Actor matches part of the actor's email, ignoring case ("helpdesk"
	// finds helpdesk@demo.local); % and _ are matched literally.
	Actor     string
	Action    string // exact match
	MachineID string // exact match
	// Machine matches part of the machine's id or name, ignoring case: its
	// name in the sessions sync's latest snapshot, or the machine_name the
	// row's params recorded.
	Machine string
	Outcome string    // exact match
	From    time.Time // at >= From
	To      time.Time // at < To (exclusive end)
	// BeforeID is the keyset cursor: only rows with id < BeforeID. Pass the
	// nextBeforeID of the previous page.
	BeforeID int64
	// Limit is the page size for ListAudit: DefaultAuditLimit when zero or
	// negative, at most MaxAuditLimit. StreamAudit ignores it.
	Limit int
}

// Page sizes for ListAudit.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

// where builds the WHERE clause and its arguments; column names are constants.
func (f AuditFilter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.ActorEmail != "" {
		add("actor_email = ?", f.ActorEmail)
	}
	if f.Actor != "" {
		add(`actor_email ILIKE ? ESCAPE '\'`, containsPattern(f.Actor))
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.MachineID != "" {
		add("machine_id = ?", f.MachineID)
	}
	if f.Machine != "" {
		// Every ? is the same argument.
		add(`(machine_id ILIKE ? ESCAPE '\'
			OR params->>'machine_name' ILIKE ? ESCAPE '\'
			OR machine_id IN (SELECT ml.machine_id FROM machines_latest ml
				WHERE ml.name ILIKE ? ESCAPE '\'))`, containsPattern(f.Machine))
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.From.IsZero() {
		add("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("at < ?", f.To)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// containsPattern is an ILIKE pattern (with ESCAPE '\') matching any text
// that contains s literally: the wildcards % and _ and the escape character
// in s are escaped.
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// ListAudit returns one page of matching rows, newest first, and the cursor
// for the next page (0 when this is the last page).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) (events []AuditEvent, nextBeforeID int64, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	events, err = s.auditPage(ctx, f, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list audit: %w", err)
	}
	if len(events) > limit {
		events = events[:limit]
		nextBeforeID = events[limit-1].ID
	}
	return events, nextBeforeID, nil
}

// streamBatch is how many rows StreamAudit and VerifyAudit read per query.
// Reading in keyset batches bounds memory and does not hold a connection
// while fn runs (fn may be writing to a slow HTTP client).
const streamBatch = 500

// StreamAudit calls fn for every matching row, newest first, with no page
// limit (f.Limit is ignored), stopping at the first error fn returns.
func (s *Store) StreamAudit(ctx context.Context, f AuditFilter, fn func(AuditEvent) error) error {
	for {
		batch, err := s.auditPage(ctx, f, streamBatch)
		if err != nil {
			return fmt.Errorf("db: stream audit: %w", err)
		}
		for _, ev := range batch {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(batch) < streamBatch {
			return nil
		}
		f.BeforeID = batch[len(batch)-1].ID
	}
}

func (s *Store) auditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	where, args := f.where()
	args = append(args, limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events`+where+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	events, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditEvent])
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].At = events[i].At.UTC()
	}
	return events, nil
}

// ErrAuditKeyNeeded is returned by VerifyAudit when the log holds keyed
// rows and the store has no key (SetAuditKey) to check them.
var ErrAuditKeyNeeded = errors.New("db: the audit log has keyed (hmac-sha256) rows: set AUDIT_KEY to verify them")

// AuditVerification is what VerifyAuditChain found.
type AuditVerification struct {
	// BadID is the first row that breaks the chain, 0 when it is intact;
	// Reason says how.
	BadID  int64
	Reason string
	// Rows counts the rows checked, Keyed those chained with the key.
	Rows, Keyed int64
	// HeadID and HeadHash are the newest row's (0 and 32 zero bytes when
	// the log is empty).
	HeadID   int64
	HeadHash []byte
}

// VerifyAudit walks the whole chain in id order, a batch at a time, and
// returns the id of the first row whose prev_hash is not the previous row's
// hash or whose hash does not match its content. badID is 0 when the chain
// is intact. Rows removed from the end of the log leave no trace in the chain
// itself; compare AuditHead with a copy kept elsewhere to catch that.
func (s *Store) VerifyAudit(ctx context.Context) (badID int64, err error) {
	v, err := s.VerifyAuditChain(ctx)
	return v.BadID, err
}

// VerifyAuditChain is VerifyAudit with the details: each row is checked with
// its own scheme (hash_alg), and a plain sha256 row after a keyed one is a
// break (a downgrade: whoever owns the table could recompute it).
func (s *Store) VerifyAuditChain(ctx context.Context) (AuditVerification, error) {
	v := AuditVerification{HeadHash: bytes.Clone(genesisHash)}
	prev := genesisHash
	var after int64
	keyedSeen := false
	for {
		rows, _ := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE id > $1 ORDER BY id LIMIT $2`, after, streamBatch)
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditEvent])
		if err != nil {
			return AuditVerification{}, fmt.Errorf("db: verify audit: %w", err)
		}
		for i := range batch {
			ev := &batch[i]
			if ev.HashAlg == HashHMACSHA256 && s.auditKey == nil {
				return AuditVerification{}, ErrAuditKeyNeeded
			}
			bad := func(reason string) (AuditVerification, error) {
				v.BadID, v.Reason = ev.ID, reason
				return v, nil
			}
			switch {
			case !bytes.Equal(ev.PrevHash, prev):
				return bad("its prev_hash is not the previous row's hash (a row before it was removed or changed)")
			case ev.HashAlg == HashSHA256 && keyedSeen:
				return bad("it is chained with plain sha256 after keyed rows (rewritten without the key)")
			case !bytes.Equal(ev.Hash, s.rowHash(ev.HashAlg, ev.PrevHash, ev)):
				if ev.HashAlg == HashHMACSHA256 {
					return bad("its hash does not match its content under AUDIT_KEY (edited, or a different key)")
				}
				return bad("its hash does not match its content (edited)")
			}
			if ev.HashAlg == HashHMACSHA256 {
				keyedSeen = true
				v.Keyed++
			}
			v.Rows++
			prev = ev.Hash
			after = ev.ID
			v.HeadID, v.HeadHash = ev.ID, ev.Hash
		}
		if len(batch) < streamBatch {
			return v, nil
		}
	}
}

// AuditRowHash returns the hash of row id; found is false when there is no
// such row.
func (s *Store) AuditRowHash(ctx context.Context, id int64) (hash []byte, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT hash FROM audit_events WHERE id = $1`, id).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("db: audit row hash: %w", err)
	}
	return hash, true, nil
}

// AuditHead returns the id and hash of the newest audit row (0 and the
// genesis hash of 32 zero bytes when the log is empty). Recording it outside
// the database lets a later check notice rows removed from the end.
func (s *Store) AuditHead(ctx context.Context) (id int64, hash []byte, err error) {
	err = s.pool.QueryRow(ctx, `SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&id, &hash)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, bytes.Clone(genesisHash), nil
		}
		return 0, nil, fmt.Errorf("db: audit head: %w", err)
	}
	return id, hash, nil
}
