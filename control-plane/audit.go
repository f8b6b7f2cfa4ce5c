package controlplane

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// execer runs a statement: a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Audit is one line of the audit log: who did what to which thing.
type Audit struct {
	// AdminID is the admin who acted (0: nobody signed in, such as a participant
	// or LiveKit); Actor names them (an email, "participant", "livekit").
	AdminID int64
	Actor   string
	// Entity is the entity the change belongs to ("" for none).
	Entity string
	// Action is what was done, such as "entity.update" or "admin.sign_in".
	Action string
	// Target names the thing acted on; Detail says more, in words.
	Target, Detail string
	IP             string
}

// writeAudit appends a to the audit log through q, inside the caller's transaction
// when q is one, so that a change and its record commit together.
func writeAudit(ctx context.Context, q execer, a Audit) error {
	var admin *int64
	if a.AdminID != 0 {
		admin = &a.AdminID
	}
	var entity *string
	if a.Entity != "" {
		entity = &a.Entity
	}
	_, err := q.Exec(ctx, `INSERT INTO audit_log (admin_id, actor, entity_id, action, target, detail, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, admin, a.Actor, entity, a.Action, a.Target, a.Detail, a.IP)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Action, err)
	}
	return nil
}
