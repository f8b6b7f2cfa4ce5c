package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"

	controlplane "github.com/attendant/attendant/control-plane"
	"github.com/attendant/attendant/web"
)

// JoinLinkOptions configures the join scenario: participants joining by magic link.
type JoinLinkOptions struct {
	// Invites is how many invitations are made and used, one join each.
	Invites int
	// Clients is how many participants join at once.
	Clients int
	// BcryptCost is the invitations' password hash cost (control_plane.bcrypt_cost).
	BcryptCost int
	// DatabaseURL is a migrated PostgreSQL; RedisAddr its Redis.
	DatabaseURL, RedisAddr string
	// LiveKitURL, APIKey and APISecret reach LiveKit (capacity checks, tokens).
	LiveKitURL, APIKey, APISecret string
	// AssetsDir holds livekit-client's bundle, which the join handler serves.
	AssetsDir string
	Logger    *slog.Logger
}

// JoinLinkReport is what the join scenario measured: POST /join/{token} with the
// right password, end to end over loopback HTTP (link check in Redis, bcrypt,
// room lookup in PostgreSQL, capacity check with LiveKit, the link used and the
// invitation marked, audit line, token). Times are in milliseconds.
type JoinLinkReport struct {
	Scenario   string    `json:"scenario"`
	Started    time.Time `json:"started"`
	Invites    int       `json:"invites"`
	Clients    int       `json:"clients"`
	BcryptCost int       `json:"bcrypt_cost"`
	P50        float64   `json:"p50_ms"`
	P99        float64   `json:"p99_ms"`
	// PerSecond is joins answered per second with Clients at once.
	PerSecond float64 `json:"per_s"`
	Latency   Summary `json:"latency_ms"`
	// BcryptMS is one password comparison at BcryptCost here, alone: the floor
	// under every join.
	BcryptMS float64 `json:"bcrypt_ms"`
	// Calibration is this machine's speed at the start: CPU microseconds per
	// loopback HTTP request (see calibrate). Compare runs only where it agrees.
	Calibration float64 `json:"calibration_us_per_request"`
}

// joinLinkSetup is what the scenario made and must remove.
type joinLinkSetup struct {
	entity, room string
	admin        controlplane.Admin
	links        []invite
}

type invite struct{ token, password string }

// JoinLink measures joining by magic link: it makes an entity, a room (in
// PostgreSQL and LiveKit) and Invites invitations, serves the control plane's
// join handler on loopback, has Clients participants post their passwords at
// once until every invitation is used, and removes what it made.
func JoinLink(ctx context.Context, o JoinLinkOptions) (JoinLinkReport, error) {
	if o.Invites <= 0 || o.Clients <= 0 {
		return JoinLinkReport{}, errors.New("join: Invites and Clients must be positive")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rep := JoinLinkReport{Scenario: "join", Started: time.Now().UTC(), Invites: o.Invites, Clients: o.Clients, BcryptCost: o.BcryptCost}
	var err error
	if rep.Calibration, err = calibrate(ctx, calibrationRequests); err != nil {
		return rep, fmt.Errorf("calibration: %w", err)
	}
	if rep.BcryptMS, err = bcryptTime(o.BcryptCost); err != nil {
		return rep, err
	}
	db, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return rep, fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr})
	defer rdb.Close()
	rooms := lksdk.NewRoomServiceClient(o.LiveKitURL, o.APIKey, o.APISecret)
	inv, join, err := joinLinkHandler(db, rdb, rooms, o)
	if err != nil {
		return rep, err
	}
	setup := &joinLinkSetup{}
	defer setup.remove(context.WithoutCancel(ctx), db, rooms, o.Logger)
	if err := setup.make(ctx, db, rooms, inv, o); err != nil {
		return rep, err
	}
	samples, took, err := serveJoins(ctx, join, setup.links, o.Clients)
	if err != nil {
		return rep, err
	}
	rep.Latency = Summarize(samples)
	rep.P50, rep.P99 = rep.Latency.P50, rep.Latency.P99
	rep.PerSecond = round2(float64(len(samples)) / took.Seconds())
	return rep, nil
}

// joinLinkHandler builds the invitations and the join handler as the control
// plane does.
func joinLinkHandler(db *pgxpool.Pool, rdb *redis.Client, rooms *lksdk.RoomServiceClient, o JoinLinkOptions) (*controlplane.Invitations, *controlplane.JoinHandler, error) {
	// Invitations and joins log at info each; the benchmark keeps their warnings only.
	quiet := slog.New(warnings{o.Logger.Handler()})
	inv, err := controlplane.NewInvitations(controlplane.InvitationsConfig{DB: db, Redis: rdb, PublicURL: "http://127.0.0.1",
		LinkTTL: time.Hour, BcryptCost: o.BcryptCost, Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	join, err := controlplane.NewJoinHandler(controlplane.JoinConfig{Invitations: inv, LiveKit: rooms, LiveKitURL: o.LiveKitURL,
		APIKey: o.APIKey, APISecret: o.APISecret, AssetsDir: o.AssetsDir, Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	return inv, join, nil
}

// warnings passes on records of level warning and above.
type warnings struct{ slog.Handler }

func (h warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnings{h.Handler.WithAttrs(attrs)}
}
func (h warnings) WithGroup(name string) slog.Handler { return warnings{h.Handler.WithGroup(name)} }

// bcryptTime is one comparison at cost, in milliseconds.
func bcryptTime(cost int) (float64, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte("12345678"), cost)
	if err != nil {
		return 0, fmt.Errorf("bcrypt cost %d: %w", cost, err)
	}
	start := time.Now()
	_ = bcrypt.CompareHashAndPassword(hash, []byte("12345678"))
	return ms(time.Since(start)), nil
}

// make creates the entity, its room, an admin and the invitations (Clients at once:
// each hashes a password).
func (s *joinLinkSetup) make(ctx context.Context, db *pgxpool.Pool, rooms *lksdk.RoomServiceClient, inv *controlplane.Invitations, o JoinLinkOptions) error {
	stamp := time.Now().UTC().Format("20060102-150405.000000")
	s.entity, s.room = "bench-join-"+stamp, "bench-join-"+stamp
	if _, err := db.Exec(ctx, `INSERT INTO entities (id, name, max_participants) VALUES ($1, 'Join benchmark', 1000)`, s.entity); err != nil {
		return fmt.Errorf("bench entity: %w", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO rooms (id, entity_id, title) VALUES ($1, $2, 'Join benchmark')`, s.room, s.entity); err != nil {
		return fmt.Errorf("bench room: %w", err)
	}
	s.admin = controlplane.Admin{Email: s.entity + "@bench.invalid", Role: controlplane.RolePlatform}
	if err := db.QueryRow(ctx, `INSERT INTO admins (email, password_hash, role) VALUES ($1, '-', 'platform') RETURNING id`,
		s.admin.Email).Scan(&s.admin.ID); err != nil {
		return fmt.Errorf("bench admin: %w", err)
	}
	if _, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: s.room, MaxParticipants: 1000}); err != nil {
		return fmt.Errorf("bench room in LiveKit: %w", err)
	}
	s.links = make([]invite, o.Invites)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Clients)
	for i := range s.links {
		g.Go(func() error {
			_, secret, err := inv.Create(gctx, s.admin, controlplane.InvitationForm{Room: s.room, Name: fmt.Sprintf("Participant %d", i+1),
				Email: fmt.Sprintf("p%d@bench.invalid", i+1)}, "127.0.0.1")
			if err != nil {
				return fmt.Errorf("invitation %d: %w", i+1, err)
			}
			_, token, _ := strings.Cut(secret.Link, "/join/")
			s.links[i] = invite{token: token, password: secret.Password}
			return nil
		})
	}
	return g.Wait()
}

// remove deletes what make created; the audit lines of the bench entity go too.
func (s *joinLinkSetup) remove(ctx context.Context, db *pgxpool.Pool, rooms *lksdk.RoomServiceClient, log *slog.Logger) {
	if s.entity == "" {
		return
	}
	for _, q := range []struct {
		sql string
		arg any
	}{
		{`DELETE FROM entities WHERE id = $1`, s.entity},
		{`DELETE FROM audit_log WHERE entity_id = $1`, s.entity},
		{`DELETE FROM admins WHERE id = $1`, s.admin.ID},
	} {
		if _, err := db.Exec(ctx, q.sql, q.arg); err != nil {
			log.Warn("join bench cleanup", "sql", q.sql, "err", err)
		}
	}
	if _, err := rooms.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: s.room}); err != nil {
		log.Warn("join bench cleanup: LiveKit room", "room", s.room, "err", err)
	}
}

// serveJoins serves h on loopback and has clients post the invitations' passwords,
// each answered with a token; it returns each join's time and the time for all.
func serveJoins(ctx context.Context, h http.Handler, links []invite, clients int) ([]float64, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-served
	}()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	base := "http://" + ln.Addr().String() + "/join/"
	samples := make([]float64, len(links))
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(links); i = int(next.Add(1)) - 1 {
				d, err := joinOnce(ctx, client, base, links[i])
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, fmt.Errorf("join %d: %w", i+1, err))
					mu.Unlock()
					return
				}
				samples[i] = ms(d)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	return samples, took, firstErr
}

// joinOnce posts one invitation's password as the page's script does and checks
// that a token came back.
func joinOnce(ctx context.Context, client *http.Client, base string, l invite) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+l.token, strings.NewReader(url.Values{"password": {l.password}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var g web.TokenResponse
	derr := json.NewDecoder(res.Body).Decode(&g)
	took := time.Since(start)
	if res.StatusCode != http.StatusOK || derr != nil || g.Token == "" {
		return 0, fmt.Errorf("status %d, token %t (%v)", res.StatusCode, g.Token != "", derr)
	}
	return took, nil
}

// WriteText prints the report.
func (r JoinLinkReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "join by magic link: %d invitations, %d at once, bcrypt cost %d\n", r.Invites, r.Clients, r.BcryptCost)
	fmt.Fprintf(w, "  POST /join/{token} (ms)      min     p50     p95     p99     max    mean\n")
	s := r.Latency
	fmt.Fprintf(w, "  %-24s %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f\n", "password → token", s.Min, s.P50, s.P95, s.P99, s.Max, s.Mean)
	fmt.Fprintf(w, "  throughput: %.1f joins/s; one bcrypt comparison alone: %.1f ms\n", r.PerSecond, r.BcryptMS)
	fmt.Fprintf(w, "  machine: %.1f µs of CPU per loopback HTTP request (calibration: compare runs where it agrees)\n", r.Calibration)
}

// WriteJSON writes the report to path.
func (r JoinLinkReport) WriteJSON(path string) error { return writeJSON(path, r) }
