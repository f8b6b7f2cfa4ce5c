package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/ops"
	"github.com/attendant/attendant/web"
	"github.com/attendant/attendant/worker"
)

// devInfo is written to DataDir/run/dev.json so a second `attendant dev` can say
// where the running one is.
type devInfo struct {
	PID     int    `json:"pid"`
	JoinURL string `json:"join_url"`
}

// runDev starts the local stack: PostgreSQL, Redis and LiveKit as child processes,
// migrations, a one-node dispatcher, a worker that takes the demo room from it, and
// the join page, until the first Ctrl-C.
func runDev(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("dev", e)
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The local LiveKit accepts one key pair, made fresh for each run.
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	o.Set("livekit.api_key", "devkey")
	o.Set("livekit.api_secret", hex.EncodeToString(secret))
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	if len(c.Dispatcher.Secret) < 16 {
		_, _ = rand.Read(secret)
		c.Dispatcher.Secret = hex.EncodeToString(secret)
	}

	runDir := filepath.Join(c.Dev.DataDir, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDev(runDir)
	if err != nil {
		return err
	}
	defer unlock()

	// The web server's address is chosen first: LiveKit is told to send its
	// webhooks there.
	ln, err := listenOrFree(c.Dev.HTTPAddr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	c.ControlPlane.PublicURL = base

	fmt.Fprintf(e.stdout, "Starting the local stack (logs in %s)...\n", filepath.Join(c.Dev.DataDir, "logs"))
	started := time.Now()
	stack, err := devstack.Start(ctx, devstack.Options{
		LiveKitWebhooks: []string{base + "/livekit/webhook"},
		Dir:             c.Dev.DataDir,
		LiveKitBinary:   c.Dev.LiveKitBinary,
		Postgres:        true, Redis: true, LiveKit: true,
		Durable:   true,
		APIKey:    c.LiveKit.APIKey,
		APISecret: c.LiveKit.APISecret,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-e.force:
			stack.Kill()
			os.Exit(130)
		case <-stopped:
		}
	}()
	defer stack.Stop()

	c.LiveKit.URL = stack.LiveKit.URL()
	c.Database.URL = stack.Postgres.URL()
	c.Worker.Room = c.Dev.Room

	if err := applyMigrations(ctx, c.Database.URL, log); err != nil {
		return err
	}
	if err := createRoom(ctx, stack.LiveKit, c.Dev.Room); err != nil {
		return err
	}

	srv := ops.New(log)
	srv.AddCheck("postgres", stack.Postgres.Ready)
	srv.AddCheck("redis", stack.Redis.Ready)
	srv.AddCheck("livekit", stack.LiveKit.Ready)
	c.Redis.URL = "redis://" + stack.Redis.Addr() + "/0"
	var kb *knowledge
	if c.Retrieval.Enabled {
		if kb, err = openKnowledge(ctx, c, srv.Registry, true, log); err != nil {
			return err
		}
		defer kb.close()
		if err := seedDemo(ctx, kb, c, c.Dev.DemoDocuments, log); err != nil {
			return err
		}
	}
	// The dispatcher, and the worker taking the demo room from it as in production.
	disp, err := startDevDispatcher(c, srv, log)
	if err != nil {
		return err
	}
	defer disp.close()
	a, releaseAssistant, err := newAssistant(ctx, c, kb, srv, log.With("worker", devWorkerID))
	if err != nil {
		return err
	}
	defer releaseAssistant()
	w, err := worker.NewDispatched(worker.DispatchConfig{Nodes: []string{disp.addr}, Secret: c.Dispatcher.Secret, ID: devWorkerID,
		Capacity: c.Worker.Capacity, Version: Version, Heartbeat: c.Dispatcher.Lease / 6, Lease: c.Dispatcher.Lease,
		ReconnectMax: c.Worker.ReconnectMax}, a, log)
	if err != nil {
		return err
	}
	srv.AddCheck("dispatcher_worker", w.Ready)
	srv.AddCheck("livekit_room", a.inRoom(c.Dev.Room))
	join, err := web.NewJoinHandler(web.JoinConfig{
		LiveKitURL:        c.LiveKit.URL,
		APIKey:            c.LiveKit.APIKey,
		APISecret:         c.LiveKit.APISecret,
		Room:              c.Dev.Room,
		AssetsDir:         c.Dev.WebAssets,
		AssistantIdentity: c.Worker.Identity,
		TokenTTL:          6 * time.Hour,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	srv.Mux.Handle("/", join)
	// The control plane, on the same server: admin pages, joining by magic link and
	// LiveKit's webhooks.
	var adminLine, inviteLine string
	if kb != nil {
		cp, err := newControlPlane(ctx, c, kb, []string{disp.addr}, srv, false, log)
		if err != nil {
			return err
		}
		defer cp.close()
		for _, p := range []string{"/admin/", "/join/", "POST /livekit/webhook", "GET /static/admin.css", "GET /static/admin.js", "GET /static/htmx.min.js"} {
			srv.Mux.Handle(p, cp.server)
		}
		email, password, err := firstAdmin(ctx, cp.db, c.ControlPlane.BcryptCost)
		if err != nil {
			return err
		}
		adminLine = fmt.Sprintf("  admin     %s/admin/ (sign in with the admin made for you; `attendant admin create` adds others)\n", base)
		if email != "" {
			adminLine = fmt.Sprintf("  admin     %s/admin/\n            first platform admin %s, password %s (shown once: keep it)\n", base, email, password)
		}
		if inv, err := demoInvitation(ctx, cp, c.Dev.Room); err != nil {
			log.Warn("no invitation to the demo room", "err", err)
		} else {
			inviteLine = fmt.Sprintf("\nOr as an invited participant (the link works once; the password is %s):\n  %s\n", inv.Password, inv.Link)
		}
	}
	info, _ := json.Marshal(devInfo{PID: os.Getpid(), JoinURL: base + "/"})
	_ = os.WriteFile(filepath.Join(runDir, "dev.json"), info, 0o644)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(runCtx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(runCtx, ln) }()

	// The demo room asks the dispatcher for its assistant (a request id makes the
	// ask idempotent).
	if err := disp.ask(runCtx, c.Dev.Room); err != nil {
		log.Warn("the dispatcher did not take the demo room's job", "err", err)
	}
	// Print the join URL once the assistant is in the room, so that "running" means ready.
	if err := waitReady(runCtx, a.inRoom(c.Dev.Room), 30*time.Second); err != nil {
		log.Warn("the assistant has not joined the demo room yet", "err", err)
	}
	fmt.Fprintf(e.stdout, "\nAttendant is running (started in %s):\n", time.Since(started).Round(100*time.Millisecond))
	fmt.Fprintf(e.stdout, "  postgres  %s\n", stack.Postgres.URL())
	fmt.Fprintf(e.stdout, "  redis     redis://%s\n", stack.Redis.Addr())
	fmt.Fprintf(e.stdout, "  livekit   %s (api key %s, secret %s)\n", stack.LiveKit.URL(), c.LiveKit.APIKey, c.LiveKit.APISecret)
	fmt.Fprintf(e.stdout, "  dispatcher http://%s (one node; secret %s)\n", disp.addr, c.Dispatcher.Secret)
	fmt.Fprintf(e.stdout, "  worker    %q, given room %q by the dispatcher, joins as %q\n", devWorkerID, c.Dev.Room, c.Worker.Identity)
	fmt.Fprint(e.stdout, adminLine)
	fmt.Fprintf(e.stdout, "  health    %s/healthz  %s/readyz  %s/metrics\n", base, base, base)
	fmt.Fprintf(e.stdout, "\nJoin the demo room in your browser:\n  %s/\n%s\nPress Ctrl-C to stop.\n", base, inviteLine)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-workerDone:
		workerDone <- runErr
	case runErr = <-srvDone:
		srvDone <- runErr
	case <-watchStack(ctx, stack):
		runErr = stack.Exited()
	}
	fmt.Fprintln(e.stdout, "Stopping...")
	// Shut down in order: the worker leaves its room, the web server drains, then the
	// dispatcher and the services stop (deferred).
	stopRun()
	if ctx.Err() == nil && runErr == nil {
		runErr = errors.New("a component stopped on its own")
	}
	<-workerDone
	<-srvDone
	return runErr
}

// watchStack returns a channel closed when a service exits on its own.
func watchStack(ctx context.Context, s *devstack.Stack) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.Exited() != nil {
					close(ch)
					return
				}
			}
		}
	}()
	return ch
}

func createRoom(ctx context.Context, lk *devstack.LiveKit, room string) error {
	rooms := lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret)
	_, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{
		Name:         room,
		EmptyTimeout: uint32((24 * time.Hour).Seconds()),
		Metadata:     `{"demo":true}`,
	})
	if err != nil {
		return fmt.Errorf("create demo room %q: %w", room, err)
	}
	return nil
}

// lockDev takes an exclusive lock so two `attendant dev` cannot share one data folder.
func lockDev(runDir string) (func(), error) {
	path := filepath.Join(runDir, "dev.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		msg := "another `attendant dev` is running with this data folder"
		if data, err := os.ReadFile(filepath.Join(runDir, "dev.json")); err == nil {
			var info devInfo
			if json.Unmarshal(data, &info) == nil && info.PID > 0 {
				msg += " (pid " + strconv.Itoa(info.PID) + ", join page " + info.JoinURL + ")"
			}
		}
		return nil, fmt.Errorf("%s; stop it with Ctrl-C, or use another --dev.data_dir", msg)
	}
	return func() {
		_ = os.Remove(filepath.Join(runDir, "dev.json"))
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// listenOrFree binds addr, or a free port on the same host when addr's port is taken.
func listenOrFree(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, fmt.Errorf("dev.http_addr %q: %w", addr, splitErr)
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// waitReady polls ready until it succeeds, ctx ends or timeout passes.
func waitReady(ctx context.Context, ready func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// devWorkerID names the worker of `attendant dev` at its dispatcher.
const devWorkerID = "dev"

// devDispatcher is the one-node dispatcher of `attendant dev`: its state starts
// empty each run (what it holds, the rooms that want an assistant now, is asked
// for again at start), and its API listens on loopback, at 127.0.0.1:7480 when
// that is free.
type devDispatcher struct {
	node   *dispatcher.Node
	srv    *http.Server
	served chan error
	addr   string
	client *dispatcher.Client
}

func startDevDispatcher(c config.Config, opsSrv *ops.Server, log *slog.Logger) (*devDispatcher, error) {
	dir := filepath.Join(c.Dev.DataDir, "dispatcher", "dev")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	ln, err := listenOrFree("127.0.0.1:7480")
	if err != nil {
		return nil, err
	}
	node, err := dispatcher.OpenNode(dispatcher.NodeConfig{ID: "dev", RaftAddr: "127.0.0.1:0", HTTPAddr: ln.Addr().String(),
		DataDir: dir, Bootstrap: true, Secret: c.Dispatcher.Secret,
		Lease: c.Dispatcher.Lease, OfferTimeout: c.Dispatcher.OfferTimeout, Retention: c.Dispatcher.Retention,
		ElectionTimeout: c.Dispatcher.ElectionTimeout, Metrics: dispatcher.NewMetrics(opsSrv.Registry), Logger: log.With("component", "dispatcher")})
	if err != nil {
		ln.Close()
		return nil, err
	}
	opsSrv.Registry.MustRegister(node.Collector())
	opsSrv.AddCheck("dispatcher", node.Ready)
	client, err := dispatcher.NewClient([]string{ln.Addr().String()}, c.Dispatcher.Secret)
	if err != nil {
		ln.Close()
		node.Close()
		return nil, err
	}
	d := &devDispatcher{node: node, srv: &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 5 * time.Second},
		served: make(chan error, 1), addr: ln.Addr().String(), client: client}
	go func() { d.served <- d.srv.Serve(ln) }()
	return d, nil
}

// ask creates room's job once the node leads.
func (d *devDispatcher) ask(ctx context.Context, room string) error {
	if err := waitReady(ctx, d.node.Ready, 10*time.Second); err != nil {
		return err
	}
	_, err := d.client.Create(ctx, dispatcher.CreateRequest{Room: room, RequestID: "dev"})
	return err
}

// close stops the API, waits for its server goroutine and closes the node.
func (d *devDispatcher) close() {
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(shutdown)
	<-d.served
	d.node.Close()
}
