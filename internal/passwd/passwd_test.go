package passwd

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	good, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(good, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("unexpected format %q", good)
	}
	again, _ := Hash("correct horse battery staple")
	if again == good {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
	// A hash made with other (cheaper) parameters still verifies.
	cheap := encode(params{memory: 1024, time: 1, threads: 1}, []byte("0123456789abcdef"),
		derive("pw", []byte("0123456789abcdef"), params{memory: 1024, time: 1, threads: 1}, 32))

	tests := []struct {
		name    string
		pw      string
		encoded string
		want    bool
		wantErr bool
	}{
		{"match", "correct horse battery staple", good, true, false},
		{"wrong password", "correct horse battery stapler", good, false, false},
		{"empty password", "", good, false, false},
		{"other parameters", "pw", cheap, true, false},
		{"other parameters wrong", "pW", cheap, false, false},
		{"empty hash", "pw", "", false, true},
		{"bcrypt hash", "pw", "$2a$10$abcdefghijklmnopqrstuu5Yb8b8b8b8b8b8b8b8b8b8b8b8b8b8b", false, true},
		{"argon2i", "pw", strings.Replace(cheap, "argon2id", "argon2i", 1), false, true},
		{"bad version", "pw", strings.Replace(cheap, "v=19", "v=16", 1), false, true},
		{"huge memory", "pw", strings.Replace(cheap, "m=1024", "m=99999999", 1), false, true},
		{"zero time", "pw", strings.Replace(cheap, "t=1", "t=0", 1), false, true},
		{"params out of order", "pw", strings.Replace(cheap, "m=1024,t=1", "t=1,m=1024", 1), false, true},
		{"bad base64", "pw", cheap[:len(cheap)-3] + "!!!", false, true},
		{"truncated", "pw", cheap[:strings.LastIndex(cheap, "$")], false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.pw, tt.encoded)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	current, _ := Hash("pw")
	cheap := encode(params{memory: 1024, time: 1, threads: 1}, make([]byte, 16), make([]byte, 32))
	tests := []struct {
		name    string
		encoded string
		want    bool
	}{
		{"current", current, false},
		{"older parameters", cheap, true},
		{"malformed", "nonsense", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.encoded); got != tt.want {
				t.Fatalf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDummyVerify checks that an unknown email costs as much as a known one,
// so response time does not tell which accounts exist: DummyVerify runs the
// same derivation as Verify, against a hash of the current parameters and
// key length (what the cost depends on), and never matches. The time itself
// is compared by BenchmarkVerify and BenchmarkDummyVerify, not here: a timed
// assertion fails on a loaded machine.
func TestDummyVerify(t *testing.T) {
	if DummyVerify("guess") {
		t.Fatal("DummyVerify returned true")
	}
	if NeedsRehash(dummyHash) {
		t.Fatalf("the dummy hash %q is not of the current parameters, so it costs a different time", dummyHash)
	}
	if DummyVerify("dummy password, never matches anything useful") {
		t.Fatal("DummyVerify matched its own password")
	}
	// It really derives: argon2id allocates its memory cost on every call.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	DummyVerify("guess")
	runtime.ReadMemStats(&after)
	if got, want := after.TotalAlloc-before.TotalAlloc, uint64(Memory)*1024*9/10; got < want {
		t.Fatalf("DummyVerify allocated %d bytes, want at least %d (argon2id's memory): it skips the derivation", got, want)
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	DummyVerify("warm up")
	for b.Loop() {
		DummyVerify("guess")
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("correct horse battery staple")
	for b.Loop() {
		if ok, err := Verify("correct horse battery staple", h); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
