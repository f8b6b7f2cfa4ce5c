// Package devstack runs Attendant's real dependencies as child processes on loopback:
// a private PostgreSQL cluster with pgvector, Redis and livekit-server in development
// mode, each on free ports chosen at start, with logs and pid files under one folder.
// `attendant dev` and the integration tests (through internal/testenv) both use it.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options says what to start and where.
type Options struct {
	// Dir holds postgres/, redis/, logs/ and run/.
	Dir string
	// LiveKitBinary is the livekit-server executable.
	LiveKitBinary string
	// Postgres, Redis and LiveKit choose which services start.
	Postgres, Redis, LiveKit bool
	// Durable keeps PostgreSQL's fsync on (the dev stack); tests leave it off.
	Durable bool
	// PostgresSettings are PostgreSQL server parameters, as Postgres.Settings.
	PostgresSettings map[string]string
	// APIKey and APISecret for LiveKit; a random secret is made when empty.
	APIKey, APISecret string
	// LiveKitWebhooks are URLs LiveKit sends its webhooks to (LiveKit.WebhookURLs).
	LiveKitWebhooks []string
	Logger          *slog.Logger
}

// Stack is a set of running services. Its zero services are nil.
type Stack struct {
	Postgres *Postgres
	Redis    *Redis
	LiveKit  *LiveKit

	dir string
	log *slog.Logger
}

// LogDir is where every service writes its log.
func (s *Stack) LogDir() string { return filepath.Join(s.dir, "logs") }

// Start starts the chosen services and waits until each is ready. Ports are chosen
// free at start; a port taken between choosing and binding makes Start try again
// with new ports, up to three times per service.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Stack{dir: dir, log: o.Logger}
	logDir, runDir := filepath.Join(dir, "logs"), filepath.Join(dir, "run")
	for _, d := range []string{dir, logDir, runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()

	if o.Postgres {
		pgDir, err := ClusterDir(filepath.Join(dir, "postgres"))
		if err != nil {
			return nil, err
		}
		err = retryPorts(ctx, func() error {
			port, err := FreePort()
			if err != nil {
				return err
			}
			s.Postgres = &Postgres{Dir: pgDir, Port: port, Durable: o.Durable, Settings: o.PostgresSettings}
			return s.Postgres.start(ctx, logDir, runDir, o.Logger)
		})
		if err != nil {
			return nil, err
		}
	}
	if o.Redis {
		err := retryPorts(ctx, func() error {
			port, err := FreePort()
			if err != nil {
				return err
			}
			s.Redis = &Redis{Dir: filepath.Join(dir, "redis"), Port: port}
			return s.Redis.start(ctx, logDir, runDir, o.Logger)
		})
		if err != nil {
			return nil, err
		}
	}
	if o.LiveKit {
		key, secret := o.APIKey, o.APISecret
		if key == "" || secret == "" {
			key, secret = "devkey", randomSecret()
		}
		err := retryPorts(ctx, func() error {
			ports, err := freePorts(2)
			if err != nil {
				return err
			}
			udp, err := FreeUDPPort()
			if err != nil {
				return err
			}
			s.LiveKit = &LiveKit{Binary: o.LiveKitBinary, Port: ports[0], TCPPort: ports[1], UDPPort: udp, APIKey: key, APISecret: secret,
				WebhookURLs: o.LiveKitWebhooks}
			return s.LiveKit.start(ctx, logDir, runDir, o.Logger)
		})
		if err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// retryPorts runs start up to three times; a failure that mentions a taken address
// is retried with new ports, any other failure is returned at once.
func retryPorts(ctx context.Context, start func() error) error {
	var err error
	for range 3 {
		if err = start(); err == nil {
			return nil
		}
		if ctx.Err() != nil || !strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return err
		}
	}
	return err
}

// Stop stops every service, LiveKit first and PostgreSQL last, each with a grace period.
func (s *Stack) Stop() {
	s.stop(syscall.SIGTERM)
}

// Kill stops every service at once, for a second Ctrl-C.
func (s *Stack) Kill() {
	s.stop(syscall.SIGKILL)
}

func (s *Stack) stop(sig syscall.Signal) {
	if s.LiveKit != nil && s.LiveKit.proc != nil {
		s.LiveKit.proc.stop(sig, 10*time.Second)
	}
	if s.Redis != nil && s.Redis.proc != nil {
		s.Redis.proc.stop(sig, 5*time.Second)
	}
	if s.Postgres != nil && s.Postgres.proc != nil {
		// SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and stops cleanly.
		if sig == syscall.SIGTERM {
			sig = syscall.SIGINT
		}
		s.Postgres.proc.stop(sig, 15*time.Second)
	}
}

// Exited returns an error naming a service that has stopped on its own, or nil.
func (s *Stack) Exited() error {
	var errs []error
	for _, p := range s.procs() {
		if p.exited != nil && !p.running() {
			errs = append(errs, fmt.Errorf("%s exited unexpectedly (log: %s)", p.name, p.logPath))
		}
	}
	return errors.Join(errs...)
}

func (s *Stack) procs() []*process {
	var ps []*process
	if s.Postgres != nil && s.Postgres.proc != nil {
		ps = append(ps, s.Postgres.proc)
	}
	if s.Redis != nil && s.Redis.proc != nil {
		ps = append(ps, s.Redis.proc)
	}
	if s.LiveKit != nil && s.LiveKit.proc != nil {
		ps = append(ps, s.LiveKit.proc)
	}
	return ps
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts holds n listeners open at once so the ports differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
