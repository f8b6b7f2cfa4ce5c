// Package cli wires Attendant's subcommands: it parses flags and configuration, builds
// the components and runs them under one context that the first Ctrl-C cancels.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/logging"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run the whole stack locally with a demo room and print the join URL", runDev},
		{"worker", "join the configured LiveKit room as the assistant", runWorker},
		{"dispatcher", "run a dispatcher node (raft): jobs for rooms, placed on workers", runDispatcher},
		{"control-plane", "serve the admin pages, joining by magic link and LiveKit's webhooks", runControlPlane},
		{"admin", "`admin create`: add an admin who signs in to the control plane", runAdmin},
		{"migrate", "apply the PostgreSQL schema migrations", runMigrate},
		{"kb", "the knowledge base: `kb ingest` documents, `kb search` them", runKB},
		{"bench", "measure: `bench join` (joining by magic link), `bench assistant-join`, `bench pipeline`, `bench retrieval`, `bench dispatch`", runBench},
		{"version", "print the version", func(_ context.Context, e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "attendant", Version)
			return nil
		}},
	}
}

// env is what every subcommand gets from Main.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	// force is closed by a second interrupt: stop now, without waiting.
	force <-chan struct{}
}

// Main runs the subcommand named by args[0] and returns the process exit code.
func Main(args []string) int {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(e.stderr, "attendant: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}

	ctx, force := interrupts()
	e.force = force
	err := cmd.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "attendant %s: %v\n", cmd.name, err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "attendant %s: %v\n", cmd.name, err)
		return 1
	}
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: attendant <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --config FILE and one flag per configuration key; run `attendant worker -h` to list them.")
}

// interrupts returns a context cancelled by the first SIGINT or SIGTERM and a channel
// closed by the second, after which the process should stop without waiting.
func interrupts() (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\nstopping (press Ctrl-C again to force)")
		cancel()
		<-sigs
		close(force)
	}()
	return ctx, force
}

// loadConfig parses fs (which must have config flags registered) and loads the configuration.
func loadConfig(fs *flag.FlagSet, e *env, args []string) (config.Config, *slog.Logger, error) {
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, nil, fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	return finishConfig(e, o)
}

func finishConfig(e *env, o *config.Overrides) (config.Config, *slog.Logger, error) {
	c, err := config.Load(e.environ, o)
	if err != nil {
		return c, nil, err
	}
	return c, logging.New(e.stderr, c.Log), nil
}

func newFlagSet(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("attendant "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}
