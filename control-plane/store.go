package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned for a thing that does not exist or that the admin may not
// reach: the two are not told apart, so ids of other entities reveal nothing.
var ErrNotFound = errors.New("not found")

// FieldErrors are a form's problems, by field name, in words fit to show next to
// the field. Nothing was changed when they are returned.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	parts := make([]string, 0, len(e))
	for k, v := range e {
		parts = append(parts, k+": "+v)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// orNil is e, or nil when it holds nothing.
func (e FieldErrors) orNil() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// text checks a free-text field: trimmed, valid UTF-8, no control characters but
// newlines and tabs (when multiline), at most max characters.
func (e FieldErrors) text(field, value string, min, max int, multiline bool) string {
	v := strings.TrimSpace(value)
	switch n := utf8.RuneCountInString(v); {
	case !utf8.ValidString(v):
		e[field] = "is not valid text"
	case n < min && min == 1:
		e[field] = "is required"
	case n < min:
		e[field] = fmt.Sprintf("needs at least %d characters", min)
	case n > max:
		e[field] = fmt.Sprintf("is %d characters long; at most %d", n, max)
	default:
		for _, r := range v {
			if r < 0x20 && !(multiline && (r == '\n' || r == '\r' || r == '\t')) || r == 0x7f {
				e[field] = "holds control characters"
				break
			}
		}
	}
	return v
}

// id checks an identifier field (letters, digits and _.:-).
func (e FieldErrors) id(field, value string) string {
	v := strings.TrimSpace(value)
	if !idRE.MatchString(v) {
		e[field] = "use 1 to 64 letters, digits or _ . : -"
	}
	return v
}

// emailProblem says what is wrong with v as an email address field: a bare
// address (no display name) of at most 254 bytes; "" when nothing is.
func emailProblem(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || len(a.Address) > 254 || a.Address != v {
		return "is not an email address"
	}
	return ""
}

// phoneRE is an E.164 number once spaces, dots, dashes and brackets are gone: a +
// and 7 to 15 digits, the first not 0.
var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// normalPhone is a phone number without its spaces, dots, dashes and brackets.
func normalPhone(v string) string {
	return strings.NewReplacer(" ", "", ".", "", "-", "", "(", "", ")", "").Replace(strings.TrimSpace(v))
}

// phoneProblem says what is wrong with v (normalised) as a phone number.
func phoneProblem(v string) string {
	if !phoneRE.MatchString(v) {
		return "write it as + and 7 to 15 digits, such as +4915112345678"
	}
	return ""
}

// number checks an integer field within [min, max].
func (e FieldErrors) number(field, value string, min, max int) int {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || n < min || n > max {
		e[field] = fmt.Sprintf("must be a whole number from %d to %d", min, max)
	}
	return n
}

// oneOf checks a field against its allowed values.
func (e FieldErrors) oneOf(field, value string, allowed ...string) string {
	v := strings.TrimSpace(value)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e[field] = "must be one of " + strings.Join(allowed, ", ")
	return v
}

// Entity is an organisation with its assistant's settings.
type Entity struct {
	ID, Name, Instructions string
	MaxParticipants        int
	RetentionDays          int
	AssistantName, Voice   string
	STTProvider, STTModel  string
	LLMProvider, LLMModel  string
	TTSProvider, TTSModel  string
	UpdatedAt              time.Time
}

// EntityForm is an entity's form as submitted: every field as text.
type EntityForm struct {
	ID, Name, Instructions, MaxParticipants, RetentionDays, AssistantName, Voice,
	STTProvider, STTModel, LLMProvider, LLMModel, TTSProvider, TTSModel string
}

// Form is e as its form shows it.
func (e Entity) Form() EntityForm {
	return EntityForm{ID: e.ID, Name: e.Name, Instructions: e.Instructions,
		MaxParticipants: strconv.Itoa(e.MaxParticipants), RetentionDays: strconv.Itoa(e.RetentionDays),
		AssistantName: e.AssistantName, Voice: e.Voice, STTProvider: e.STTProvider, STTModel: e.STTModel,
		LLMProvider: e.LLMProvider, LLMModel: e.LLMModel, TTSProvider: e.TTSProvider, TTSModel: e.TTSModel}
}

// Parse checks f and returns the entity it describes, or FieldErrors.
func (f EntityForm) Parse() (Entity, error) {
	errs := FieldErrors{}
	e := Entity{
		ID:              errs.id("id", f.ID),
		Name:            errs.text("name", f.Name, 1, 200, false),
		Instructions:    errs.text("instructions", f.Instructions, 0, 20000, true),
		MaxParticipants: errs.number("max_participants", f.MaxParticipants, 1, 1000),
		AssistantName:   errs.text("assistant_name", f.AssistantName, 1, 64, false),
		Voice:           errs.text("voice", f.Voice, 0, 64, false),
		STTProvider:     errs.oneOf("stt_provider", f.STTProvider, "", "pocketsphinx", "openai"),
		STTModel:        errs.text("stt_model", f.STTModel, 0, 128, false),
		LLMProvider:     errs.oneOf("llm_provider", f.LLMProvider, "", "extractive", "openai"),
		LLMModel:        errs.text("llm_model", f.LLMModel, 0, 128, false),
		TTSProvider:     errs.oneOf("tts_provider", f.TTSProvider, "", "espeak", "openai"),
		TTSModel:        errs.text("tts_model", f.TTSModel, 0, 128, false),
	}
	e.RetentionDays, _ = strconv.Atoi(errs.oneOf("retention_days", f.RetentionDays, "30", "90", "365"))
	return e, errs.orNil()
}

const entityColumns = `id, name, instructions, max_participants, retention_days, assistant_name, voice,
	stt_provider, stt_model, llm_provider, llm_model, tts_provider, tts_model, updated_at`

func scanEntity(row pgx.Row) (Entity, error) {
	var e Entity
	err := row.Scan(&e.ID, &e.Name, &e.Instructions, &e.MaxParticipants, &e.RetentionDays, &e.AssistantName, &e.Voice,
		&e.STTProvider, &e.STTModel, &e.LLMProvider, &e.LLMModel, &e.TTSProvider, &e.TTSModel, &e.UpdatedAt)
	return e, err
}

// Store reads and writes the control plane's rows, always on behalf of an admin
// whose reach it checks in the query itself.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// reachSQL is the condition on an entity id column ($1 the admin's role, $2 their
// entity) that every read and write of entity data carries.
const reachSQL = `($1 = 'platform' OR %s = $2)`

func reach(column string) string { return fmt.Sprintf(reachSQL, column) }

// Entities lists the entities a may reach, by name.
func (s *Store) Entities(ctx context.Context, a Admin) ([]Entity, error) {
	rows, err := s.db.Query(ctx, `SELECT `+entityColumns+` FROM entities WHERE `+reach("id")+` ORDER BY name, id`,
		string(a.Role), a.Entity)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entity, error) { return scanEntity(r) })
}

// Entity returns one entity a may reach.
func (s *Store) Entity(ctx context.Context, a Admin, id string) (Entity, error) {
	e, err := scanEntity(s.db.QueryRow(ctx, `SELECT `+entityColumns+` FROM entities WHERE id = $3 AND `+reach("id"),
		string(a.Role), a.Entity, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("entity %q: %w", id, ErrNotFound)
	}
	return e, err
}

// UpdateEntity writes e's settings (the entity must exist and be a's), with its
// audit line, in one transaction.
func (s *Store) UpdateEntity(ctx context.Context, a Admin, e Entity, ip string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE entities SET name = $4, instructions = $5, max_participants = $6, retention_days = $7,
			assistant_name = $8, voice = $9, stt_provider = $10, stt_model = $11, llm_provider = $12, llm_model = $13,
			tts_provider = $14, tts_model = $15, updated_at = now()
			WHERE id = $3 AND `+reach("id"), string(a.Role), a.Entity, e.ID, e.Name, e.Instructions, e.MaxParticipants,
			e.RetentionDays, e.AssistantName, e.Voice, e.STTProvider, e.STTModel, e.LLMProvider, e.LLMModel, e.TTSProvider, e.TTSModel)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("entity %q: %w", e.ID, ErrNotFound)
		}
		return writeAudit(ctx, tx, a.audit("entity.update", e.ID, e.ID, ip))
	})
}

// inTx runs f in a transaction, committed when f returns nil.
func (s *Store) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Department is part of an entity, with instructions of its own.
type Department struct {
	Entity, ID, Name, Instructions string
	UpdatedAt                      time.Time
}

// DepartmentForm is a department's form as submitted.
type DepartmentForm struct{ ID, Name, Instructions string }

// Parse checks f and returns the department of entity it describes.
func (f DepartmentForm) Parse(entity string) (Department, error) {
	errs := FieldErrors{}
	d := Department{Entity: entity,
		ID:           errs.id("id", f.ID),
		Name:         errs.text("name", f.Name, 1, 200, false),
		Instructions: errs.text("instructions", f.Instructions, 0, 20000, true)}
	return d, errs.orNil()
}

// Departments lists an entity's departments, if a reaches it.
func (s *Store) Departments(ctx context.Context, a Admin, entity string) ([]Department, error) {
	rows, err := s.db.Query(ctx, `SELECT entity_id, id, name, instructions, updated_at FROM departments
		WHERE entity_id = $3 AND `+reach("entity_id")+` ORDER BY name, id`, string(a.Role), a.Entity, entity)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Department, error) {
		var d Department
		err := r.Scan(&d.Entity, &d.ID, &d.Name, &d.Instructions, &d.UpdatedAt)
		return d, err
	})
}

// Department returns one department, if a reaches its entity.
func (s *Store) Department(ctx context.Context, a Admin, entity, id string) (Department, error) {
	var d Department
	err := s.db.QueryRow(ctx, `SELECT entity_id, id, name, instructions, updated_at FROM departments
		WHERE entity_id = $3 AND id = $4 AND `+reach("entity_id"), string(a.Role), a.Entity, entity, id).
		Scan(&d.Entity, &d.ID, &d.Name, &d.Instructions, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("department %q of %q: %w", id, entity, ErrNotFound)
	}
	return d, err
}
