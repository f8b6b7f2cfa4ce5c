package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/ops"
)

// runDispatcher runs one dispatcher node until ctx ends. Without --join it starts a
// new cluster (or rejoins its own from --data-dir); with --join it asks a member,
// reached at that HTTP address, to add it as a voter.
func runDispatcher(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("dispatcher", e)
	id := fs.String("node-id", "", "this node's name in the cluster (required)")
	raftAddr := fs.String("raft-addr", "127.0.0.1:7400", "where this node's raft transport listens and is reached")
	httpAddr := fs.String("http-addr", "127.0.0.1:7480", "where this node serves its API")
	dataDir := fs.String("data-dir", "", "raft log and snapshots (default dev.data_dir/dispatcher/NODE-ID)")
	join := fs.String("join", "", "the HTTP address of a cluster member to join through; empty starts a new cluster")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	if *id == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: attendant dispatcher --node-id ID [--raft-addr HOST:PORT] [--http-addr HOST:PORT] [--data-dir DIR] [--join HOST:PORT]", errUsage)
	}
	if err := c.ValidateDispatcher(); err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = filepath.Join(c.Dev.DataDir, "dispatcher", *id)
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	opsSrv := ops.New(log)
	node, err := dispatcher.OpenNode(dispatcher.NodeConfig{ID: *id, RaftAddr: *raftAddr, HTTPAddr: ln.Addr().String(),
		DataDir: *dataDir, Bootstrap: *join == "", Secret: c.Dispatcher.Secret,
		Lease: c.Dispatcher.Lease, OfferTimeout: c.Dispatcher.OfferTimeout, Retention: c.Dispatcher.Retention,
		ElectionTimeout: c.Dispatcher.ElectionTimeout, Metrics: dispatcher.NewMetrics(opsSrv.Registry), Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	defer node.Close()
	opsSrv.Registry.MustRegister(node.Collector())
	opsSrv.AddCheck("raft", node.Ready)
	// The API and the operational endpoints (/healthz, /readyz, /metrics) on one port.
	mux := http.NewServeMux()
	mux.Handle("/", node.Handler())
	for _, path := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
		mux.Handle(path, opsSrv.Mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("dispatcher node serving", "node", *id, "http", "http://"+ln.Addr().String(), "raft", node.RaftAddr(), "data", *dataDir)
	if *join != "" {
		if err := joinCluster(ctx, *join, c.Dispatcher.Secret, *id, node.RaftAddr()); err != nil {
			_ = srv.Close()
			return err
		}
		log.Info("joined the cluster", "via", *join)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return nil
}

// joinCluster asks the member at addr to add this node, retrying (the member may be
// starting, or between leaders) until it is done or ctx ends.
func joinCluster(ctx context.Context, addr, secret, id, raftAddr string) error {
	body, _ := json.Marshal(map[string]string{"id": id, "raft_addr": raftAddr})
	wait := 100 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/cluster/join", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return nil
			case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest:
				return fmt.Errorf("join through %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(msg)))
			}
			err = errors.New(resp.Status + ": " + strings.TrimSpace(string(msg)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join through %s: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
