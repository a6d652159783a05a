// Package audit records security-relevant actions (sign-ins, tokens,
// users, project members, secrets, promotions, debug sessions) in the
// store's audit log, which admins read with GET /api/v1/audit.
//
// Record writes in the caller's transaction, so an action and its audit
// entry commit together. Who acted and from where comes from the request
// context (see WithRequest), which the API sets for every request:
//
//	err := db.Tx(ctx, func(tx *store.Tx) error {
//		if err := tx.PutSecret(s); err != nil {
//			return err
//		}
//		return audit.Record(ctx, tx, audit.Event{Action: audit.SecretChanged, Target: s.Name, ProjectID: p.ID})
//	})
package audit

import (
	"context"
	"time"

	"github.com/batonci/baton/internal/store"
)

// Action names what happened.
type Action string

// The actions recorded.
const (
	SignIn            Action = "signin"
	SignInFailed      Action = "signin.failed"
	SignInLimited     Action = "signin.limited"
	SignOut           Action = "signout"
	TokenCreated      Action = "token.created"
	TokenRevoked      Action = "token.revoked"
	AgentTokenCreated Action = "agent_token.created"
	UserAdded         Action = "user.added"
	UserRemoved       Action = "user.removed"
	UserChanged       Action = "user.changed"
	MemberChanged     Action = "member.changed"
	MemberRemoved     Action = "member.removed"
	ProjectCreated    Action = "project.created"
	ProjectChanged    Action = "project.changed"
	ProjectDeleted    Action = "project.deleted"
	SecretChanged     Action = "secret.changed"
	SecretDeleted     Action = "secret.deleted"
	Promotion         Action = "promotion"
	PromotionRefused  Action = "promotion.refused"
	TargetChanged     Action = "deployment_target.changed"
	TargetDeleted     Action = "deployment_target.deleted"
	DebugSession      Action = "debug_session"
	SSHKeyAdded       Action = "ssh_key.added"
	SSHKeyRemoved     Action = "ssh_key.removed"
	// NotificationChanged and NotificationDeleted record changes of
	// organisation notifications (never their endpoints or secret).
	NotificationChanged Action = "notification.changed"
	NotificationDeleted Action = "notification.deleted"
	// ScheduleChanged and ScheduleDeleted record changes of a project's
	// schedules (created, updated, paused, resumed; Detail says which).
	ScheduleChanged Action = "schedule.changed"
	ScheduleDeleted Action = "schedule.deleted"
	// LibraryChanged and LibraryDeleted record changes of script
	// libraries (never their token).
	LibraryChanged Action = "library.changed"
	LibraryDeleted Action = "library.deleted"
	// ToolsChanged records a change of the global tools every job gets.
	ToolsChanged Action = "tools.changed"
)

// Event is an action to record.
type Event struct {
	Action Action
	// Target is what was acted on: a login, a token ID, a secret name...
	Target string
	// ProjectID is the project concerned, if any.
	ProjectID string
	// Detail is a short free text, never a secret value.
	Detail string
	// Actor and IP default to the request's (WithRequest).
	Actor, IP string
	// At defaults to now.
	At time.Time
}

type requestKey struct{}

type request struct{ actor, ip string }

// WithRequest returns a context saying who is making the request (a login,
// "" for anonymous) and from which address.
func WithRequest(ctx context.Context, actor, ip string) context.Context {
	return context.WithValue(ctx, requestKey{}, request{actor, ip})
}

// Record appends e to the audit log in tx.
func Record(ctx context.Context, tx *store.Tx, e Event) error {
	if req, ok := ctx.Value(requestKey{}).(request); ok {
		if e.Actor == "" {
			e.Actor = req.actor
		}
		if e.IP == "" {
			e.IP = req.ip
		}
	}
	return tx.RecordAudit(&store.AuditEvent{
		At: e.At, Action: string(e.Action), Actor: e.Actor, Target: e.Target,
		ProjectID: e.ProjectID, IP: e.IP, Detail: e.Detail,
	})
}
