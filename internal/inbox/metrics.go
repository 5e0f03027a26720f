package inbox

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Webhook request results, the values of the "result" label of
// Metrics.Requests.
const (
	resultStored      = "stored"      // 200: events stored (or all were duplicates)
	resultUnusable    = "unusable"    // 200: well signed, but nothing to store
	resultVerified    = "verified"    // 200: verification GET answered
	resultForbidden   = "forbidden"   // 403: bad signature, wrong verify token, page not connected
	resultNotFound    = "not_found"   // 404: unknown or removed key
	resultTooLarge    = "too_large"   // 413
	resultBadRequest  = "bad_request" // 400: the body could not be read
	resultUnavailable = "unavailable" // 503: the database failed; Meta retries
)

// Metrics counts what an inbox does. Build it with NewMetrics; an inbox
// given no Metrics counts nothing.
type Metrics struct {
	// Requests counts webhook requests by result: stored, unusable,
	// verified, forbidden, not_found, too_large, bad_request, unavailable.
	Requests *prometheus.CounterVec
	// Stored counts events newly stored.
	Stored prometheus.Counter
	// Duplicates counts events not stored because they already were: Meta's
	// redeliveries.
	Duplicates prometheus.Counter
	// Dropped counts well-signed events not stored, by reason
	// ("other_page": the entry's page is not the channel's).
	Dropped *prometheus.CounterVec
	// Processed counts events the Processor handled successfully (DONE).
	Processed prometheus.Counter
	// Retried counts failed attempts that will be retried.
	Retried prometheus.Counter
	// Failed counts events given up on (FAILED).
	Failed prometheus.Counter
	// ProcessingSeconds observes how long Processor.Process took, whatever
	// its outcome.
	ProcessingSeconds prometheus.Histogram
	// QueueDepth is the number of PENDING events, refreshed by Run.
	QueueDepth prometheus.Gauge
	// OldestPendingSeconds is how long ago the oldest PENDING event was
	// received (0 when none is), refreshed with QueueDepth: a backlog
	// shows here as a growing age even while the depth looks steady.
	OldestPendingSeconds prometheus.Gauge
}

// NewMetrics creates the inbox metrics and registers them with reg (if not
// nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "seachat_inbox_webhook_requests_total",
			Help: "Messenger webhook requests, by result.",
		}, []string{"result"}),
		Stored: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_inbox_events_stored_total",
			Help: "Webhook events newly stored.",
		}),
		Duplicates: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_inbox_events_duplicate_total",
			Help: "Webhook events already stored (redeliveries).",
		}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "seachat_inbox_events_dropped_total",
			Help: "Well-signed webhook events not stored, by reason.",
		}, []string{"reason"}),
		Processed: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_inbox_events_processed_total",
			Help: "Events processed successfully.",
		}),
		Retried: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_inbox_events_retried_total",
			Help: "Failed processing attempts that will be retried.",
		}),
		Failed: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_inbox_events_failed_total",
			Help: "Events given up on after their last attempt.",
		}),
		ProcessingSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "seachat_inbox_processing_seconds",
			Help:    "Time spent processing one event.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		QueueDepth: f.NewGauge(prometheus.GaugeOpts{
			Name: "seachat_inbox_queue_depth",
			Help: "Events waiting to be processed (PENDING), including leased and backing-off ones.",
		}),
		OldestPendingSeconds: f.NewGauge(prometheus.GaugeOpts{
			Name: "seachat_inbox_oldest_pending_seconds",
			Help: "Age of the oldest event waiting to be processed (PENDING), since it was received; 0 when none is.",
		}),
	}
	for _, r := range []string{resultStored, resultUnusable, resultVerified, resultForbidden,
		resultNotFound, resultTooLarge, resultBadRequest, resultUnavailable} {
		m.Requests.WithLabelValues(r)
	}
	m.Dropped.WithLabelValues(reasonOtherPage)
	return m
}

const reasonOtherPage = "other_page"

func (m *Metrics) request(result string) {
	if m != nil {
		m.Requests.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) stored(n, dup int) {
	if m != nil {
		m.Stored.Add(float64(n))
		m.Duplicates.Add(float64(dup))
	}
}

func (m *Metrics) dropped(reason string, n int) {
	if m != nil {
		m.Dropped.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) processed(seconds float64) {
	if m != nil {
		m.ProcessingSeconds.Observe(seconds)
	}
}

func (m *Metrics) done() {
	if m != nil {
		m.Processed.Inc()
	}
}

func (m *Metrics) retried() {
	if m != nil {
		m.Retried.Inc()
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.Failed.Inc()
	}
}

func (m *Metrics) backlog(n int, oldest time.Duration) {
	if m != nil {
		m.QueueDepth.Set(float64(n))
		m.OldestPendingSeconds.Set(oldest.Seconds())
	}
}
