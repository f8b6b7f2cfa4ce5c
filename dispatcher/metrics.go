package dispatcher

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a node's Prometheus metrics. Counters of the leader's work count
// what this node proposed while it led.
type Metrics struct {
	Leader        prometheus.Gauge
	LeaderChanges prometheus.Counter
	// CommitSeconds is how long a batch took to commit, by path: "raft" (this node
	// led) or "forwarded" (to the leader); BatchCommands how many commands it held.
	CommitSeconds *prometheus.HistogramVec
	BatchCommands prometheus.Histogram
	Placements    prometheus.Counter
	OffersExpired prometheus.Counter
	// OffersPushed counts the offers this node, as leader, sent straight to the
	// node holding their worker's connection once committed.
	OffersPushed prometheus.Counter
	WorkersLost  prometheus.Counter
	Pruned       prometheus.Counter
	Connections  prometheus.Gauge
	// Resyncs counts worker connections closed because the worker's sessions and
	// the records differed (see workerConn.checkSessions).
	Resyncs prometheus.Counter
	// JobStartSeconds is from a job's creation to its worker's accept, observed as
	// this node applies the accept (every node sees every job start).
	JobStartSeconds prometheus.Histogram
}

// NewMetrics returns a node's metrics; with reg, they and a collector of the
// state's jobs, workers and applied index (see Node.Collector) are registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "attendant_dispatcher_leader",
			Help: "1 while this node leads the dispatcher cluster."}),
		LeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_leader_changes_total",
			Help: "Times this node gained or lost the leadership."}),
		CommitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "attendant_dispatcher_commit_seconds",
			Help:    "Time to commit a batch of commands, through this node's raft or forwarded to the leader.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}}, []string{"path"}),
		BatchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "attendant_dispatcher_batch_commands",
			Help:    "Commands committed together in one raft entry (or one forwarded batch).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		Placements: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_placements_total",
			Help: "Assignments of pending jobs to workers this node proposed as leader."}),
		OffersExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_offers_expired_total",
			Help: "Offers this node, as leader, sent back to pending because their worker did not answer."}),
		OffersPushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_offers_pushed_total",
			Help: "Committed offers this node, as leader, sent straight to the node holding their worker's connection."}),
		WorkersLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_workers_lost_total",
			Help: "Workers this node, as leader, declared lost after their lease ran out."}),
		Pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_pruned_total",
			Help: "Ended jobs and lost workers this node, as leader, pruned after the retention."}),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "attendant_dispatcher_worker_connections",
			Help: "Workers connected to this node."}),
		Resyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_dispatcher_worker_resyncs_total",
			Help: "Worker connections this node closed because the worker's sessions and the records differed, so that it registers again."}),
		JobStartSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "attendant_dispatcher_job_start_seconds",
			Help:    "Time from a job's creation to its worker's accept.",
			Buckets: []float64{.005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30}}),
	}
	if reg != nil {
		reg.MustRegister(m.Leader, m.LeaderChanges, m.CommitSeconds, m.BatchCommands, m.Placements, m.OffersExpired, m.OffersPushed,
			m.WorkersLost, m.Pruned, m.Connections, m.Resyncs, m.JobStartSeconds)
	}
	return m
}

// Collector reports, at each scrape, the jobs by state, the workers by status and
// the raft indexes as this node has them.
func (n *Node) Collector() prometheus.Collector { return stateCollector{n} }

type stateCollector struct{ n *Node }

var (
	jobsDesc    = prometheus.NewDesc("attendant_dispatcher_jobs", "Jobs in the state, by state.", []string{"state"}, nil)
	workersDesc = prometheus.NewDesc("attendant_dispatcher_workers", "Workers in the state, by status.", []string{"status"}, nil)
	appliedDesc = prometheus.NewDesc("attendant_dispatcher_applied_index", "The last raft index this node applied.", nil, nil)
	termDesc    = prometheus.NewDesc("attendant_dispatcher_term", "The raft term this node is in.", nil, nil)
)

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- workersDesc
	ch <- appliedDesc
	ch <- termDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	jobs := map[JobState]int{JobPending: 0, JobOffered: 0, JobRunning: 0, JobCompleted: 0, JobFailed: 0}
	workers := map[WorkerStatus]int{WorkerAvailable: 0, WorkerFull: 0, WorkerDraining: 0, WorkerLost: 0}
	var applied uint64
	c.n.fsm.Read(func(s *State, a uint64) {
		applied = a
		jobs[JobPending], jobs[JobOffered], jobs[JobCompleted] = len(s.pending), len(s.offered), 0
		for _, j := range s.ended {
			jobs[j.State]++
		}
		running := 0
		for _, held := range s.held {
			running += len(held)
		}
		jobs[JobRunning] = running - len(s.offered)
		for _, w := range s.Workers {
			workers[w.Status]++
		}
	})
	for state, count := range jobs {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(count), string(state))
	}
	for status, count := range workers {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(count), string(status))
	}
	ch <- prometheus.MustNewConstMetric(appliedDesc, prometheus.GaugeValue, float64(applied))
	term, _ := strconv.ParseFloat(c.n.raft.Stats()["term"], 64)
	ch <- prometheus.MustNewConstMetric(termDesc, prometheus.GaugeValue, term)
}
