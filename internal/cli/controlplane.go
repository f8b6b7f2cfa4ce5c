package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	lksdk "github.com/livekit/server-sdk-go/v2"

	controlplane "github.com/attendant/attendant/control-plane"
	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/ops"
)

// liveKitHTTP turns LiveKit's WebSocket URL into its HTTP API's base.
func liveKitHTTP(ws string) string {
	u, err := url.Parse(ws)
	if err != nil {
		return ws
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	return u.String()
}

// controlPlane is a built control plane and what it holds open: its database pool
// and the goroutine ingesting uploaded documents.
type controlPlane struct {
	server      *controlplane.Server
	invitations *controlplane.Invitations
	db          *pgxpool.Pool
	stop        context.CancelFunc
	done        chan struct{}
}

// close stops the ingestion (a document half-read is left as it was) and closes
// the pool.
func (cp *controlPlane) close() {
	cp.stop()
	<-cp.done
	cp.db.Close()
}

// newControlPlane builds the control plane's handler on the knowledge base kb (with
// its Redis) and the dispatcher nodes, registering its metrics on srv and, when
// checks is set, its readiness checks there.
func newControlPlane(ctx context.Context, c config.Config, kb *knowledge, nodes []string, srv *ops.Server, checks bool, log *slog.Logger) (*controlPlane, error) {
	if kb == nil || kb.rdb == nil || kb.assembler == nil {
		return nil, errors.New("the control plane needs the knowledge base with Redis (retrieval.enabled)")
	}
	db, err := pgxpool.New(ctx, c.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	client, err := dispatcher.NewClient(nodes, c.Dispatcher.Secret)
	if err != nil {
		db.Close()
		return nil, err
	}
	rooms := lksdk.NewRoomServiceClient(liveKitHTTP(c.LiveKit.URL), c.LiveKit.APIKey, c.LiveKit.APISecret)
	log = log.With("component", "control_plane")
	live, err := controlplane.NewLiveRooms(controlplane.LiveRoomsConfig{DB: db, Redis: kb.rdb, Dispatcher: client, LiveKit: rooms,
		APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret, Logger: log})
	if err != nil {
		db.Close()
		return nil, err
	}
	notifier, err := controlplane.NewNotifier(c.ControlPlane, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	invitations, join, err := controlplane.NewJoining(c, db, kb.rdb, rooms, srv.Registry, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	secure := strings.HasPrefix(c.ControlPlane.PublicURL, "https://")
	server, err := controlplane.NewServer(controlplane.Config{
		DB: db, Redis: kb.rdb,
		Auth:      controlplane.AuthConfig{SessionTTL: c.ControlPlane.SessionTTL, Secure: secure, BcryptCost: c.ControlPlane.BcryptCost},
		Knowledge: kb.store, Contexts: kb.assembler, Rooms: rooms, Lifecycle: live, Cluster: client,
		Documents:   controlplane.KnowledgeDocuments{Store: kb.store, Ingestor: kb.ingestor, Embedder: kb.embed},
		Invitations: invitations, Notifier: notifier, Join: join, Webhook: live,
		AssistantIdentity: c.Worker.Identity, AssetsDir: c.Dev.WebAssets, Logger: log,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if checks {
		srv.AddCheck("postgres", func(ctx context.Context) error { return db.Ping(ctx) })
		srv.AddCheck("redis", func(ctx context.Context) error { return kb.rdb.Ping(ctx).Err() })
		srv.AddCheck("dispatcher", func(ctx context.Context) error { _, err := client.Status(ctx); return err })
	}
	ingestCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	cp := &controlPlane{server: server, invitations: invitations, db: db, stop: stop, done: make(chan struct{})}
	go func() { defer close(cp.done); kb.ingestor.Run(ingestCtx) }()
	return cp, nil
}

// runControlPlane serves the control plane until ctx ends.
func runControlPlane(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("control-plane", e)
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	if err := errors.Join(c.ValidateLiveKit(), c.ValidateDispatcher()); err != nil {
		return err
	}
	nodes := c.ControlPlane.DispatcherNodes()
	if len(nodes) == 0 {
		return fmt.Errorf("%w: control_plane.dispatchers: name at least one dispatcher node (ATTENDANT_CONTROL_PLANE_DISPATCHERS)", config.ErrInvalid)
	}
	srv := ops.New(log)
	kb, err := openKnowledge(ctx, c, srv.Registry, true, log)
	if err != nil {
		return err
	}
	defer kb.close()
	cp, err := newControlPlane(ctx, c, kb, nodes, srv, true, log)
	if err != nil {
		return err
	}
	defer cp.close()
	srv.Mux.Handle("/", cp.server)
	ln, err := listenOrFree(c.ControlPlane.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("control plane serving", "addr", ln.Addr().String(), "public_url", c.ControlPlane.PublicURL)
	return srv.Serve(ctx, ln)
}

// runAdmin manages admins: `admin create`.
func runAdmin(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: attendant admin create --email ADDRESS [--role platform|entity --entity ID --name NAME --password-stdin]", errUsage)
	}
	fs := newFlagSet("admin create", e)
	o := config.RegisterFlags(fs)
	email := fs.String("email", "", "the admin's email address (their sign-in)")
	name := fs.String("name", "", "the admin's name")
	role := fs.String("role", "platform", "platform (every entity) or entity (one entity)")
	entity := fs.String("entity", "", "the entity of an entity admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input (its first line) instead of making one")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	if err := applyMigrations(ctx, c.Database.URL, log); err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, c.Database.URL)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	defer db.Close()
	// The password comes from standard input, or is made here and shown once.
	var password string
	if *fromStdin {
		if e.stdin == nil {
			return fmt.Errorf("%w: --password-stdin: no standard input", errUsage)
		}
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else if password, err = controlplane.NewPassword(); err != nil {
		return err
	}
	a, err := controlplane.CreateAdmin(ctx, db, controlplane.NewAdmin{Email: *email, Name: *name, Password: password,
		Role: controlplane.Role(*role), Entity: *entity}, c.ControlPlane.BcryptCost, controlplane.Admin{})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created %s admin %s (id %d).\n", a.Role, a.Email, a.ID)
	if !*fromStdin {
		fmt.Fprintf(e.stdout, "Password (shown once): %s\n", password)
	}
	return nil
}

// firstAdmin creates a platform admin when there is none, and returns its email and
// password to print (empty when admins exist).
func firstAdmin(ctx context.Context, db *pgxpool.Pool, cost int) (email, password string, err error) {
	n, err := controlplane.CountAdmins(ctx, db)
	if err != nil || n > 0 {
		return "", "", err
	}
	if password, err = controlplane.NewPassword(); err != nil {
		return "", "", err
	}
	a, err := controlplane.CreateAdmin(ctx, db, controlplane.NewAdmin{Email: "admin@localhost", Name: "Admin", Password: password,
		Role: controlplane.RolePlatform}, cost, controlplane.Admin{})
	return a.Email, password, err
}

// demoInvitation invites a demo guest to room on behalf of the first platform admin,
// so that `attendant dev` can print a link that joins the way participants do.
func demoInvitation(ctx context.Context, cp *controlPlane, room string) (controlplane.InvitationSecret, error) {
	var a controlplane.Admin
	err := cp.db.QueryRow(ctx, `SELECT id, email FROM admins WHERE role = 'platform' ORDER BY id LIMIT 1`).Scan(&a.ID, &a.Email)
	if err != nil {
		return controlplane.InvitationSecret{}, fmt.Errorf("no platform admin to invite the demo guest: %w", err)
	}
	a.Role = controlplane.RolePlatform
	if _, err := cp.db.Exec(ctx, `UPDATE rooms SET title = 'Demo meeting' WHERE id = $1 AND title = ''`, room); err != nil {
		return controlplane.InvitationSecret{}, err
	}
	_, secret, err := cp.invitations.Create(ctx, a, controlplane.InvitationForm{Room: room, Name: "Demo guest",
		Email: "guest@localhost"}, "127.0.0.1")
	return secret, err
}
