package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/attendant/attendant/bench"
	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/worker"
)

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "join" {
		return fmt.Errorf("%w: attendant bench join [--n 20] [--out FILE.json] [--livekit.url URL ...]", errUsage)
	}
	fs := newFlagSet("bench join", e)
	n := fs.Int("n", 20, "number of joins to measure")
	out := fs.String("out", "", "write the report as JSON to this file")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// Without a LiveKit to point at, the benchmark starts its own on loopback.
	own := os.Getenv("ATTENDANT_LIVEKIT_API_KEY") == "" && !flagGiven(fs, "livekit.api_key")
	var stack *devstack.Stack
	if own {
		dir, err := os.MkdirTemp("", "attendant-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Set("livekit.api_key", "benchkey")
		o.Set("livekit.api_secret", "bench-secret-0123456789abcdef0123456789")
		c, log, err := finishConfig(e, o)
		if err != nil {
			return err
		}
		stack, err = devstack.Start(ctx, devstack.Options{Dir: dir, LiveKitBinary: c.Dev.LiveKitBinary, LiveKit: true,
			APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret, Logger: log})
		if err != nil {
			return err
		}
		defer stack.Stop()
		o.Set("livekit.url", stack.LiveKit.URL())
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	synth, err := newSynthesizer(c.TTS)
	if err != nil {
		return err
	}
	rep, err := bench.Join(ctx, bench.JoinOptions{
		N: *n,
		Session: worker.SessionConfig{
			URL: c.LiveKit.URL, APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret,
			Room: "bench-join-" + time.Now().Format("150405"), Identity: c.Worker.Identity, Name: c.Worker.Name,
			Greeting: c.Worker.Greeting, GreetDelay: c.Worker.GreetDelay,
		},
		TTS:    synth,
		Logger: log,
	})
	if err != nil {
		return err
	}
	rep.WriteText(e.stdout)
	if *out != "" {
		if err := rep.WriteJSON(*out); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "report written to %s\n", *out)
	}
	return nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}
