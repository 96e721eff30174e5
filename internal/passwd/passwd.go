// Package passwd hashes and checks sign-in passwords with argon2id, in the
// PHC string format:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>
//
// (salt and hash in unpadded standard base64). Verify reads the parameters
// from the stored string, so they can be raised later without breaking old
// hashes; NeedsRehash tells when a stored hash uses older parameters.
package passwd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes. Chosen so that one Verify takes about 70-100 ms on a
// 2-core machine (see BenchmarkVerify): slow enough to make guessing costly,
// fast enough for a sign-in. 64 MiB, 3 passes, 2 lanes is above OWASP's
// minimum for argon2id (19 MiB, 2 passes, 1 lane).
const (
	Memory  uint32 = 64 * 1024 // KiB
	Time    uint32 = 3
	Threads uint8  = 2
	SaltLen        = 16
	KeyLen         = 32
)

// Bounds accepted when reading a stored hash, so a corrupt or hostile value
// cannot make Verify allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1024 * 1024 // KiB (1 GiB)
	maxTime    = 16
	maxThreads = 16
)

// ErrMalformed is returned when a stored hash is not a valid argon2id PHC
// string (or uses parameters beyond the accepted bounds).
var ErrMalformed = errors.New("passwd: malformed argon2id hash")

// sem bounds how many hashes run at once: each takes Memory of RAM, so a burst
// of sign-in attempts queues instead of exhausting memory.
var sem = make(chan struct{}, max(2, runtime.NumCPU()))

var b64 = base64.RawStdEncoding

// params are the argon2id settings of one hash.
type params struct {
	memory  uint32
	time    uint32
	threads uint8
}

func derive(pw string, salt []byte, p params, keyLen uint32) []byte {
	sem <- struct{}{}
	defer func() { <-sem }()
	return argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, keyLen)
}

// Hash returns the PHC-format argon2id hash of pw with a fresh random salt.
func Hash(pw string) (string, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwd: salt: %w", err)
	}
	p := params{memory: Memory, time: Time, threads: Threads}
	key := derive(pw, salt, p, KeyLen)
	return encode(p, salt, key), nil
}

func encode(p params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether pw matches encoded, comparing in constant time. It
// returns ErrMalformed (and false) when encoded cannot be read.
func Verify(pw, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := derive(pw, salt, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the current ones (or cannot be read), so the caller can store a new Hash
// after a successful sign-in.
func NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	return err != nil || p != (params{memory: Memory, time: Time, threads: Threads}) ||
		len(salt) != SaltLen || len(key) != KeyLen
}

var (
	dummyOnce sync.Once
	dummyHash string
)

// DummyVerify does the work of one Verify against a hash of the current
// parameters and always returns false. Call it when the email is unknown, so
// that a sign-in takes as long whether or not the account exists.
func DummyVerify(pw string) bool {
	dummyOnce.Do(func() {
		h, err := Hash("dummy password, never matches anything useful")
		if err != nil {
			// crypto/rand does not fail on supported systems; keep the timing anyway.
			h = encode(params{memory: Memory, time: Time, threads: Threads}, make([]byte, SaltLen), make([]byte, KeyLen))
		}
		dummyHash = h
	})
	_, _ = Verify(pw, dummyHash)
	return false
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func decode(encoded string) (p params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformed, parts[2])
	}
	var seen int
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if !ok || perr != nil || n == 0 {
			return p, nil, nil, ErrMalformed
		}
		switch {
		case k == "m" && seen == 0 && n <= maxMemory:
			p.memory = uint32(n)
		case k == "t" && seen == 1 && n <= maxTime:
			p.time = uint32(n)
		case k == "p" && seen == 2 && n <= maxThreads:
			p.threads = uint8(n)
		default:
			return p, nil, nil, ErrMalformed
		}
		seen++
	}
	if seen != 3 || p.memory < 8*uint32(p.threads) {
		return p, nil, nil, ErrMalformed
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
