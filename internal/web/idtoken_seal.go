package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// The provider's ID token is kept with a single sign-on session only for
// the logout's id_token_hint. It is a signed statement of who the user is,
// valid until it expires, so it is stored sealed (AES-256-GCM): whoever
// reads web_sessions (a backup, a replica, a read-only SQL account) learns
// nothing from the column. The key is derived from SESSION_KEY with its own
// label, like the cookie keys (newCookieStore); the additional data binds
// a sealed token to the session's cookie token, which the database holds
// only as a hash, so a sealed value copied to another row does not open.

// sealedIDTokenPrefix marks the format (AES-GCM, 12-byte nonce first).
const sealedIDTokenPrefix = "v1."

// idTokenBox seals and opens ID tokens with a key derived from the
// session key.
type idTokenBox struct{ aead cipher.AEAD }

func newIDTokenBox(sessionKey []byte) (idTokenBox, error) {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("vagon-dashboard id token enc"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return idTokenBox{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return idTokenBox{}, err
	}
	return idTokenBox{aead: aead}, nil
}

func idTokenAAD(sessionToken string) []byte {
	return []byte("web_sessions.id_token\x00" + sessionToken)
}

// seal encrypts idToken for the session whose cookie carries
// sessionToken; "" stays "".
func (b idTokenBox) seal(idToken, sessionToken string) string {
	if idToken == "" {
		return ""
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("web: no randomness for sealing: " + err.Error())
	}
	out := b.aead.Seal(nonce, nonce, []byte(idToken), idTokenAAD(sessionToken))
	return sealedIDTokenPrefix + base64.RawURLEncoding.EncodeToString(out)
}

var errSealedIDToken = errors.New("web: the kept ID token cannot be opened")

// open decrypts what seal made for the same session token. Anything else
// (another key, another session, a plain or damaged value) is an error.
func (b idTokenBox) open(sealed, sessionToken string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, sealedIDTokenPrefix)
	if !ok {
		return "", errSealedIDToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return "", errSealedIDToken
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], idTokenAAD(sessionToken))
	if err != nil {
		return "", errSealedIDToken
	}
	return string(plain), nil
}
