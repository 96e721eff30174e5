// Package vagon is a typed client of the Vagon Computers API
// (https://api.vagon.io/organization-management/v1): list, create, start,
// stop, reset and configure cloud computers, issue access links, read
// sessions and manage snapshot tasks.
//
// Every request is signed as the API requires (see Sign): an HMAC-SHA256 over
// key, method, full path, millisecond timestamp, nonce and body, sent as
// "Authorization: HMAC key:signature:nonce:timestamp".
//
// Any answer that is not a success (a non-2xx status, or a client_code other
// than 200) is returned as *Error, whatever the body looks like; predicates
// such as IsNotRunning and IsInsufficientBalance test for the documented
// client codes. Only GET requests are retried, only on 429, 502, 503, 504 and
// timeouts, with capped exponential backoff and jitter that honours
// Retry-After and never outlives the context. Units follow the API's tables:
// usage in minutes, disk and file storage in GB, network credit and folder
// sizes in bytes.
//
// The package depends on the standard library only; vagonsim serves the same
// API in memory for demos and tests.
package vagon
