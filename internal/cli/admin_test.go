package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/testenv"
)

// `attendant admin create` adds an admin with a password made and shown once (or
// taken from ATTENDANT_ADMIN_PASSWORD), and refuses bad or duplicate ones without
// changing anything.
func TestAdminCreate(t *testing.T) {
	db := testenv.Database(t)
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &out}
		err := runAdmin(context.Background(), e, append([]string{"create", "--database.url", db, "--control_plane.bcrypt_cost", "4"}, args...))
		return out.String(), err
	}
	out, err := run("", "--email", "root@example.org")
	if err != nil || !regexp.MustCompile(`Password \(shown once\): \S{16,}`).MatchString(out) || !strings.Contains(out, "platform admin root@example.org") {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	out, err = run("a chosen long password\n", "--email", "ada@acme.example", "--role", "entity", "--entity", "acme", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "entity") {
		t.Errorf("an entity admin of an entity that does not exist: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO entities (id, name) VALUES ('acme', 'Acme')`); err != nil {
		t.Fatal(err)
	}
	out, err = run("a chosen long password\n", "--email", "ada@acme.example", "--role", "entity", "--entity", "acme", "--password-stdin")
	if err != nil || strings.Contains(out, "Password") {
		t.Errorf("admin create with the password from standard input: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"--email", "ROOT@example.org"},
		{"--email", "not an address"},
		{"--email", "x@example.org", "--role", "king"},
		{"--email", "y@example.org", "--role", "platform", "--entity", "acme"},
	} {
		if out, err := run("", bad...); err == nil {
			t.Errorf("admin create %v succeeded:\n%s", bad, out)
		}
	}
	if out, err := run("short\n", "--email", "z@example.org", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("a short password: %v\n%s", err, out)
	}
	var n int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM admins`).Scan(&n)
	if n != 2 {
		t.Errorf("%d admins after the refusals; want 2", n)
	}
}
