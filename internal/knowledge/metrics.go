package knowledge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the service's Prometheus collectors; a nil *metrics counts
// nothing.
type metrics struct {
	ingestSeconds    *prometheus.HistogramVec
	sourcesFailed    prometheus.Counter
	embedFailures    prometheus.Counter
	retrievalSeconds prometheus.Histogram
}

// newMetrics creates the collectors and registers them with reg; nil
// reg means no metrics.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		ingestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seachat_knowledge_ingest_seconds",
			Help:    "Time to ingest an uploaded file (extract, chunk, embed, store), by result (ready, failed, lost).",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"result"}),
		sourcesFailed: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_knowledge_sources_failed_total",
			Help: "Uploaded files that ended FAILED.",
		}),
		embedFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_knowledge_embed_failures_total",
			Help: "Embedding requests that failed (retrieval fell back to lexical, or chunks wait for a retry).",
		}),
		retrievalSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "seachat_knowledge_retrieval_seconds",
			Help:    "Time to find the passages for a question, including refreshing the cached index and embedding the question.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
}

func (m *metrics) ingested(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.ingestSeconds.WithLabelValues(result).Observe(d.Seconds())
	if result == "failed" {
		m.sourcesFailed.Inc()
	}
}

func (m *metrics) embedFailed() {
	if m != nil {
		m.embedFailures.Inc()
	}
}

func (m *metrics) retrieved(d time.Duration) {
	if m != nil {
		m.retrievalSeconds.Observe(d.Seconds())
	}
}
