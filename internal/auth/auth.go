// Package auth knows who is calling and what they may do: principals (users,
// machine tokens, the system), roles and their permissions, API tokens stored
// as hashes, and local user passwords hashed with argon2id. Every comparison
// of a secret is constant-time.
package auth

import (
	"context"
	"slices"
	"strings"
)

// Role is a user's or token's role (ARCHITECTURE.md §8).
type Role string

// Roles.
const (
	RoleAdmin   Role = "admin"
	RoleAnalyst Role = "analyst"
	RoleManager Role = "manager"
	RoleAccount Role = "account"
	RoleViewer  Role = "viewer"
)

// Roles lists every role, most privileged first.
var Roles = []Role{RoleAdmin, RoleAnalyst, RoleManager, RoleAccount, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Permission names one thing a principal may do.
type Permission string

// Permissions. Handlers check exactly one each.
const (
	PermCasesRead      Permission = "cases:read"     // read cases (account users: only their customers')
	PermCasesReadAll   Permission = "cases:read_all" // read every customer's cases
	PermCasesWrite     Permission = "cases:write"    // acknowledge, assign, snooze, resolve, comment
	PermActionsPropose Permission = "actions:propose"
	PermActionsApprove Permission = "actions:approve"
	PermRulesRead      Permission = "rules:read"
	PermRulesWrite     Permission = "rules:write" // edit drafts, tests, backtests
	PermRulesPublish   Permission = "rules:publish"
	PermSourcesRead    Permission = "sources:read"
	PermSourcesAdmin   Permission = "sources:admin"
	PermEventsWrite    Permission = "events:write"
	PermEventsRead     Permission = "events:read"
	PermUsersAdmin     Permission = "users:admin"
	PermTokensAdmin    Permission = "tokens:admin"
	PermAuditRead      Permission = "audit:read"
	PermOpsRead        Permission = "ops:read"
	PermOpsAdmin       Permission = "ops:admin" // retry/delete jobs, replay deliveries
	PermDigestsSelf    Permission = "digests:self"
	PermDigestsAdmin   Permission = "digests:admin"
	PermOdooAdmin      Permission = "odoo:admin"
)

var rolePerms = map[Role][]Permission{
	RoleAdmin: {PermCasesRead, PermCasesReadAll, PermCasesWrite, PermActionsPropose, PermActionsApprove, PermRulesRead,
		PermRulesWrite, PermRulesPublish, PermSourcesRead, PermSourcesAdmin, PermEventsWrite, PermEventsRead, PermUsersAdmin,
		PermTokensAdmin, PermAuditRead, PermOpsRead, PermOpsAdmin, PermDigestsSelf, PermDigestsAdmin, PermOdooAdmin},
	RoleAnalyst: {PermCasesRead, PermCasesReadAll, PermRulesRead, PermRulesWrite, PermRulesPublish, PermEventsRead,
		PermSourcesRead, PermAuditRead, PermOpsRead},
	RoleManager: {PermCasesRead, PermCasesReadAll, PermCasesWrite, PermActionsPropose, PermActionsApprove, PermRulesRead,
		PermEventsRead, PermAuditRead, PermOpsRead, PermDigestsSelf},
	RoleAccount: {PermCasesRead, PermDigestsSelf},
	RoleViewer:  {PermCasesRead, PermCasesReadAll, PermRulesRead, PermEventsRead, PermAuditRead},
}

// PermissionsOf returns the permissions of a role.
func PermissionsOf(r Role) []Permission { return slices.Clone(rolePerms[r]) }

// Principal is an authenticated caller.
type Principal struct {
	Kind string `json:"kind"` // user | token | system
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Scopes restrict a token further than its role, e.g.
	// "events:write:source=<source id>". Empty means the role's permissions.
	Scopes []string `json:"scopes,omitempty"`
	// UserID is the user behind a session or a user's token.
	UserID string `json:"user_id,omitempty"`
}

// SystemPrincipal is used by background work.
var SystemPrincipal = Principal{Kind: "system", ID: "system", Name: "Yardmaster", Role: RoleAdmin}

// Can reports whether p has permission perm. A scoped token has only the
// permissions its scopes name (a scope "events:write:source=x" grants
// events:write, narrowed to source x by the handler).
func (p Principal) Can(perm Permission) bool {
	if !slices.Contains(rolePerms[p.Role], perm) {
		return false
	}
	if len(p.Scopes) == 0 {
		return true
	}
	for _, s := range p.Scopes {
		if s == string(perm) || strings.HasPrefix(s, string(perm)+":") {
			return true
		}
	}
	return false
}

// ScopeValues returns the values of the qualifier key in the scopes that
// grant perm, e.g. ScopeValues(PermEventsWrite, "source") → ["src1"]. nil
// with ok=true means unrestricted (no such qualifier).
func (p Principal) ScopeValues(perm Permission, key string) (values []string, unrestricted bool) {
	if len(p.Scopes) == 0 {
		return nil, true
	}
	for _, s := range p.Scopes {
		if s == string(perm) {
			return nil, true
		}
		rest, ok := strings.CutPrefix(s, string(perm)+":")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(rest, "="); ok && k == key {
			values = append(values, v)
		}
	}
	return values, false
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal of ctx.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
