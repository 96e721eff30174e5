package fleet

import (
	"fmt"
	"slices"
	"strings"
)

// OIDCActorEmail is the actor of the audit rows single sign-on writes by
// itself (a role taken from the provider's groups, an account it created):
// not a person, and no user row.
const OIDCActorEmail = "oidc"

// OIDCActorRole is the actor role of those rows.
const OIDCActorRole = "system"

// OIDCActor is the audit actor for changes single sign-on makes, with the
// request's address, agent and id.
func OIDCActor(remoteAddr, userAgent, requestID string) Actor {
	return Actor{Email: OIDCActorEmail, Role: OIDCActorRole, RemoteAddr: remoteAddr, UserAgent: userAgent, RequestID: requestID}
}

// CLIActorEmail is the actor of the audit rows the dashboard's own command
// line writes (dashboard user create, set-role, disable): someone with
// shell access to a replica and its database, not a signed-in user.
const CLIActorEmail = "cli"

// CLIActor is the audit actor of a command-line change made by the
// operating-system account osUser; the agent names the command.
func CLIActor(osUser, command string) Actor {
	return Actor{Email: CLIActorEmail, Role: OIDCActorRole, UserAgent: "dashboard " + command + " (os user " + osUser + ")"}
}

// RoleMapEntry maps one group of the identity provider to a role.
type RoleMapEntry struct {
	Group string
	Role  string
}

// RoleMap maps the identity provider's groups to the dashboard's roles
// (OIDC_ROLE_MAP, "group=role,..."). The zero value maps nothing.
type RoleMap struct {
	entries []RoleMapEntry
}

// ParseRoleMap reads "group=role,group=role". Groups are compared exactly
// (as the provider spells them: a name, a path such as /it/admins, an
// object id); a group may itself contain "=" (the role is after the last
// one). Spaces around entries, groups and roles are ignored; empty
// entries are skipped. An unknown role, an empty group, or one group
// mapped twice is an error naming the entry.
func ParseRoleMap(s string) (RoleMap, error) {
	var m RoleMap
	seen := map[string]string{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndex(entry, "=")
		if i < 0 {
			return RoleMap{}, fmt.Errorf("%q is not group=role", entry)
		}
		group, role := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
		if group == "" {
			return RoleMap{}, fmt.Errorf("%q has no group before =", entry)
		}
		if RoleRank(role) == 0 {
			return RoleMap{}, fmt.Errorf("%q: unknown role %q (want one of %s)", entry, role, strings.Join(Roles, ", "))
		}
		if prev, ok := seen[group]; ok && prev != role {
			return RoleMap{}, fmt.Errorf("group %q is mapped twice (%s and %s)", group, prev, role)
		} else if ok {
			continue
		}
		seen[group] = role
		m.entries = append(m.entries, RoleMapEntry{Group: group, Role: role})
	}
	return m, nil
}

// Entries returns the map's entries in the order written.
func (m RoleMap) Entries() []RoleMapEntry { return slices.Clone(m.entries) }

// Len is the number of groups mapped.
func (m RoleMap) Len() int { return len(m.entries) }

// Resolve returns the role for a user in groups: the highest role any of
// them maps to, else defaultRole (which may be ""), and the groups that
// matched. ok is false when no group matched and there is no default: the
// user is refused.
func (m RoleMap) Resolve(groups []string, defaultRole string) (role string, matched []string, ok bool) {
	for _, e := range m.entries {
		if !slices.Contains(groups, e.Group) {
			continue
		}
		matched = append(matched, e.Group)
		if RoleRank(e.Role) > RoleRank(role) {
			role = e.Role
		}
	}
	if role != "" {
		return role, matched, true
	}
	if RoleRank(defaultRole) > 0 {
		return defaultRole, nil, true
	}
	return "", nil, false
}
