package fleet

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Permission fields are asked of the API at most this often; a failed ask
// (other than the endpoint missing) is retried sooner.
const (
	permFieldsTTL      = 10 * time.Minute
	permFieldsRetryTTL = time.Minute
)

type cachedPermFields struct {
	fields []Permission
	at     time.Time
	ttl    time.Duration
}

// PermissionFields returns the permission keys machines accept, from GET
// /machines/permission-fields, cached for 10 minutes and coalesced in
// flight. The seven known keys carry fleet.Permissions' labels; a key the
// dashboard does not know is labelled from its name ("some_new_flag" is
// "Some new flag"), with its type when that is not boolean. When the API
// has no such endpoint (404), or the ask fails, the answer is the seven
// known keys with their documented defaults; a failure other than a 404 is
// logged at Warn once per Service (and asked again after a minute). So
// there is no error: a page always has a list to render.
func (s *Service) PermissionFields(ctx context.Context) []Permission {
	s.mu.Lock()
	if e := s.permFields; e != nil && s.now().Sub(e.at) < e.ttl {
		s.mu.Unlock()
		return clonePerms(e.fields)
	}
	s.mu.Unlock()
	v, _, _ := s.group.Do("permission-fields", func() (any, error) {
		// The fetch runs on its own deadline so one caller's cancel does
		// not fail the others sharing it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		raw, err := s.api.ListPermissionFields(fctx)
		ttl := permFieldsTTL
		switch {
		case vagon.IsEndpointMissing(err):
			raw = vagon.KnownPermissionFields()
		case err != nil:
			s.mu.Lock()
			warn := !s.permWarned
			s.permWarned = true
			s.mu.Unlock()
			if warn {
				s.log.Warn("permission fields: using the seven known keys", "err", err)
			}
			raw, ttl = vagon.KnownPermissionFields(), permFieldsRetryTTL
		}
		out := make([]Permission, 0, len(raw))
		for _, f := range raw {
			out = append(out, permissionOf(f))
		}
		s.mu.Lock()
		s.permFields = &cachedPermFields{fields: out, at: s.now(), ttl: ttl}
		s.mu.Unlock()
		return out, nil
	})
	return clonePerms(v.([]Permission))
}

func clonePerms(p []Permission) []Permission { return append([]Permission(nil), p...) }

// permissionOf labels one API field: from the Permissions table when the
// key is known, from its name otherwise.
func permissionOf(f vagon.PermissionField) Permission {
	for _, p := range Permissions {
		if p.Key == f.Name {
			p.Type, p.Default = f.Type, f.Default
			return p
		}
	}
	label := GenericPermissionLabel(f.Name)
	if f.Type != "" && f.Type != "boolean" {
		label += " (" + f.Type + ")"
	}
	return Permission{Key: f.Name, Label: label, Type: f.Type, Default: f.Default,
		Help: "A permission Vagon's API lists that this dashboard does not know yet."}
}

// GenericPermissionLabel names a key the dashboard has no label for from
// its words: "some_new_flag" is "Some new flag".
func GenericPermissionLabel(key string) string {
	w := strings.Join(strings.FieldsFunc(key, func(r rune) bool { return r == '_' || r == '-' || r == ' ' }), " ")
	if w == "" {
		return key
	}
	r, n := utf8.DecodeRuneInString(w)
	return string(unicode.ToUpper(r)) + w[n:]
}
