package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// The dispatch scenario with real `attendant dispatcher` processes: jobs placed on
// simulated workers, two leader SIGKILLs, a worker lost; nothing lost or doubled.
func TestDispatchScenario(t *testing.T) {
	dir := t.TempDir()
	bin := testenv.Attendant(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Dispatch(ctx, DispatchOptions{Nodes: 3, Workers: 3, Jobs: 150, Kills: 2, Clients: 16, Batch: 25, BatchClients: 2, Rate: 1000,
		Binary: bin, Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d/s, create→running p50 %.1f ms p99 %.1f ms, failover %v ms, reassign %.0f ms, lost %d, duplicated %d, retries %d",
		int(rep.AssignmentsPerS), rep.CreateToRunning.P50, rep.CreateToRunning.P99, rep.Failover.Samples, rep.Reassign.Max, rep.Lost, rep.Duplicated, rep.CreateRetries)
	if rep.Lost != 0 || rep.Duplicated != 0 {
		t.Errorf("lost %d, duplicated %d; want none", rep.Lost, rep.Duplicated)
	}
	if rep.AssignmentsPerS <= 0 || rep.CreateToRunning.P50 <= 0 || rep.CreateToRunning.P99 < rep.CreateToRunning.P50 {
		t.Errorf("report %+v; want positive, ordered placement figures", rep)
	}
	if rep.Calibration <= 0 {
		t.Errorf("calibration %v µs per request; want it measured", rep.Calibration)
	}
	if len(rep.Phases) != 4 {
		t.Fatalf("phases %+v; want single, batched, client and at rate", rep.Phases)
	}
	for _, p := range rep.Phases {
		t.Logf("%s: %.0f/s, create→running p50 %.1f ms p99 %.1f ms, CPU per job %v + %.0f µs", p.Name, p.AssignmentsPerS,
			p.CreateToRunning.P50, p.CreateToRunning.P99, p.NodeCPUPerJob, p.HarnessCPUPerJob)
		if p.Jobs != 150 || p.AssignmentsPerS <= 0 || p.CreateToOffer.P50 <= 0 || p.OfferToRunning.P50 <= 0 ||
			p.CreateToRunning.P50 < p.CreateToOffer.P50 || p.CreateRequest.P50 <= 0 || len(p.NodeCPUPerJob) != 3 {
			t.Errorf("phase %+v; want every job placed with positive, consistent figures", p)
		}
	}
	// The client sent its callers' creates together: fewer requests than jobs.
	if cl := rep.Phases[2]; cl.Name != "client" || cl.Batch <= 1 {
		t.Errorf("client phase %+v; want its calls batched", cl)
	}
	// Offered 1000 jobs/s for 150 jobs, the cluster cannot have placed them faster.
	if at := rep.Phases[3]; at.Name != "at rate" || at.OfferedPerS != 1000 || at.Batch != 10 || at.AssignmentsPerS > 1100 {
		t.Errorf("at-rate phase %+v; want 10 jobs every 10 ms, placed no faster than offered", at)
	}
	// The headline: the client phase's rate, the at-rate phase's latency.
	if rep.AssignmentsPerS != rep.Phases[2].AssignmentsPerS || rep.CreateToRunning.P99 != rep.Phases[3].CreateToRunning.P99 {
		t.Errorf("headline %.0f/s, p99 %.1f ms; want the client phase's rate and the at-rate phase's latency", rep.AssignmentsPerS, rep.CreateToRunning.P99)
	}
	if len(rep.Failover.Samples) != 2 || rep.Failover.Max > 10000 {
		t.Errorf("failover %+v; want two kills, each replaced within 10 s", rep.Failover)
	}
	// Lease 3 s: a dead worker's jobs run elsewhere within lease + 1 s on a quiet
	// machine; the bound leaves room for a loaded one (make test runs packages at once).
	if rep.Reassign.Max <= 0 || rep.Reassign.Max > 10000 {
		t.Errorf("reassign %+v ms; want within the lease and a few seconds", rep.Reassign)
	}
}
