package auth

import "fmt"

// Role is what a user may do in a project. Roles are ordered: each allows
// what the ones below it allow.
type Role int

// The roles, weakest first. NoRole is the zero value: no access beyond
// what a public project grants everyone.
const (
	NoRole Role = iota
	// Read sees the project, its workflows, jobs and logs.
	Read
	// Write also runs, stops, rebuilds, promotes and debugs.
	Write
	// Admin also changes the project's settings, members and secrets.
	Admin
)

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	case "admin":
		return Admin, nil
	}
	return NoRole, fmt.Errorf("role %q is not read, write or admin", s)
}

// String returns the role's name, "" for NoRole.
func (r Role) String() string {
	switch r {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	}
	return ""
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r >= need }
