package vagon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Sign returns the request signature NOTES.md defines: lowercase hex of
// HMAC-SHA256 keyed with secret over key + METHOD + path + timestamp + nonce + body,
// where path is the full request path (base path included, no query) and
// timestamp is milliseconds since the Unix epoch as decimal text.
func Sign(secret, key, method, path, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(key))
	m.Write([]byte(strings.ToUpper(method)))
	m.Write([]byte(path))
	m.Write([]byte(timestamp))
	m.Write([]byte(nonce))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// AuthorizationHeader formats the Authorization header value:
// "HMAC key:signature:nonce:timestamp".
func AuthorizationHeader(key, signature, nonce string, timestampMillis int64) string {
	return "HMAC " + key + ":" + signature + ":" + nonce + ":" + strconv.FormatInt(timestampMillis, 10)
}

// ParseAuthorization splits an Authorization header into its four parts.
// ok is false when the header is not of the documented form.
func ParseAuthorization(h string) (key, signature, nonce, timestamp string, ok bool) {
	rest, found := strings.CutPrefix(h, "HMAC ")
	if !found {
		return "", "", "", "", false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 4 {
		return "", "", "", "", false
	}
	for _, p := range parts {
		if p == "" {
			return "", "", "", "", false
		}
	}
	return parts[0], parts[1], parts[2], parts[3], true
}
