package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/migrate"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/web"
)

// The join scenario makes a few invitations, joins with each through the real
// join handler, reports, and leaves nothing behind.
func TestJoinLinkScenario(t *testing.T) {
	stack := testenv.Shared(t)
	url := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := migrate.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	rep, err := JoinLink(ctx, JoinLinkOptions{Invites: 6, Clients: 3, BcryptCost: 4, DatabaseURL: url, RedisAddr: stack.Redis.Addr(),
		LiveKitURL: stack.LiveKit.URL(), APIKey: stack.LiveKit.APIKey, APISecret: stack.LiveKit.APISecret,
		AssetsDir: filepath.Join(testenv.ModuleRoot(), web.DefaultAssetsDir)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scenario != "join" || rep.Invites != 6 || rep.Clients != 3 || rep.BcryptCost != 4 || len(rep.Latency.Samples) != 6 {
		t.Fatalf("report %+v; want 6 joins at bcrypt cost 4", rep)
	}
	for i, v := range rep.Latency.Samples {
		if v <= 0 {
			t.Errorf("join %d took %v ms; want it measured", i+1, v)
		}
	}
	if rep.P50 <= 0 || rep.P99 < rep.P50 || rep.PerSecond <= 0 || rep.Calibration <= 0 || rep.BcryptMS <= 0 {
		t.Errorf("report %+v; want ordered percentiles, a rate, bcrypt time and calibration", rep)
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM entities) + (SELECT count(*) FROM rooms) + (SELECT count(*) FROM invitations)
		+ (SELECT count(*) FROM admins) + (SELECT count(*) FROM audit_log)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows left after the scenario (%v); want none", left, err)
	}

	requireReportKeys(t, rep.WriteJSON, "p50_ms", "p99_ms", "per_s", "invites", "bcrypt_cost", "calibration_us_per_request")
	var text bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "6 invitations") || !strings.Contains(text.String(), "joins/s") {
		t.Errorf("text report:\n%s", text.String())
	}
}
