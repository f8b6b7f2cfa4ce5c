package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminRow is an admin as the admins page lists them.
type AdminRow struct {
	ID          int64
	Email, Name string
	Role        Role
	Entity      string
	CreatedAt   time.Time
}

// EntityAdmins lists the admins of entity, if a reaches it.
func (s *Store) EntityAdmins(ctx context.Context, a Admin, entity string) ([]AdminRow, error) {
	rows, err := s.db.Query(ctx, `SELECT id, email, name, role, coalesce(entity_id, ''), created_at FROM admins
		WHERE entity_id = $3 AND `+reach("entity_id")+` ORDER BY lower(email)`, string(a.Role), a.Entity, entity)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AdminRow, error) {
		var ad AdminRow
		err := r.Scan(&ad.ID, &ad.Email, &ad.Name, &ad.Role, &ad.Entity, &ad.CreatedAt)
		return ad, err
	})
}

// deleteEntityAdmin removes an entity admin a reaches (never a itself), with its
// audit line, and returns its entity.
func (s *Store) deleteEntityAdmin(ctx context.Context, a Admin, id int64, ip string) (string, error) {
	var entity, email string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `DELETE FROM admins WHERE id = $3 AND id <> $4 AND role = 'entity' AND `+reach("entity_id")+`
			RETURNING entity_id, email`, string(a.Role), a.Entity, id, a.ID).Scan(&entity, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("admin %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a.audit("admin.delete", entity, email, ip))
	})
	return entity, err
}

// AuditLine is one line of the audit log as the pages show it.
type AuditLine struct {
	At                            time.Time
	Actor, Action, Target, Detail string
	IP                            string
}

// Audit lists the latest lines of entity's audit log, newest first, if a reaches it.
func (s *Store) Audit(ctx context.Context, a Admin, entity string, limit int) ([]AuditLine, error) {
	rows, err := s.db.Query(ctx, `SELECT at, actor, action, target, detail, ip FROM audit_log
		WHERE entity_id = $3 AND `+reach("entity_id")+` ORDER BY id DESC LIMIT $4`, string(a.Role), a.Entity, entity, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditLine, error) {
		var l AuditLine
		err := r.Scan(&l.At, &l.Actor, &l.Action, &l.Target, &l.Detail, &l.IP)
		return l, err
	})
}

type peoplePage struct {
	base
	Entity    Entity
	Admins    []AdminRow
	Audit     []AuditLine
	New       NewAdmin
	Errors    FieldErrors
	Created   *struct{ Email, Password string }
	FormError string
}

func (s *Server) loadPeoplePage(ctx context.Context, sess Session, entity string) (peoplePage, error) {
	e, err := s.store.Entity(ctx, sess.Admin, entity)
	if err != nil {
		return peoplePage{}, err
	}
	admins, err := s.store.EntityAdmins(ctx, sess.Admin, entity)
	if err != nil {
		return peoplePage{}, err
	}
	audit, err := s.store.Audit(ctx, sess.Admin, entity, 200)
	if err != nil {
		return peoplePage{}, err
	}
	return peoplePage{base: base{Session: &sess}, Entity: e, Admins: admins, Audit: audit}, nil
}

// peoplePage shows an entity's admins and its audit log.
func (s *Server) peoplePage(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadPeoplePage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "people", "", p)
}

// createEntityAdmin adds an admin of the entity (by any admin who reaches it), with
// a password made here and shown once.
func (s *Server) createEntityAdmin(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	p, err := s.loadPeoplePage(ctx, sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	password, err := NewPassword()
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.New = NewAdmin{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Password: password,
		Role: RoleEntity, Entity: p.Entity.ID}
	created, err := CreateAdmin(ctx, s.cfg.DB, p.New, s.auth.cfg.BcryptCost, sess.Admin)
	var fe FieldErrors
	switch {
	case errors.As(err, &fe):
		p.Errors = fe
		s.render(w, r, http.StatusUnprocessableEntity, "people", "admin-new", p)
		return
	case err != nil:
		s.fail(w, r, &sess, err)
		return
	}
	s.log.Info("admin created", "entity", p.Entity.ID, "admin", created.Email, "by", sess.Admin.Email)
	if p, err = s.loadPeoplePage(ctx, sess, p.Entity.ID); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.Created = &struct{ Email, Password string }{created.Email, password}
	s.render(w, r, http.StatusOK, "people", "admin-new", p)
}

func (s *Server) deleteEntityAdmin(w http.ResponseWriter, r *http.Request, sess Session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, &sess, ErrNotFound)
		return
	}
	entity, err := s.store.deleteEntityAdmin(r.Context(), sess.Admin, id, clientIP(r))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	redirect(w, r, "/admin/entities/"+entity+"/people")
}
