package pubsub

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Drop reasons, the values of the "reason" label of Metrics.Dropped.
const (
	reasonSlow         = "slow"
	reasonDisconnected = "disconnected"
)

// Metrics counts what a bus does. Build it with NewMetrics; a bus given no
// Metrics counts nothing.
type Metrics struct {
	// Delivered counts events handed to a subscriber's buffer.
	Delivered prometheus.Counter
	// Dropped counts subscriptions ended by the bus, by reason: "slow"
	// (ErrSlowSubscriber) or "disconnected" (ErrDisconnected).
	Dropped *prometheus.CounterVec
	// Subscribers is the number of active subscriptions.
	Subscribers prometheus.Gauge
}

// NewMetrics creates the bus metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Delivered: f.NewCounter(prometheus.CounterOpts{
			Name: "seachat_pubsub_delivered_total",
			Help: "Events handed to a subscriber.",
		}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "seachat_pubsub_dropped_subscribers_total",
			Help: "Subscriptions ended by the bus, by reason (slow, disconnected).",
		}, []string{"reason"}),
		Subscribers: f.NewGauge(prometheus.GaugeOpts{
			Name: "seachat_pubsub_subscribers",
			Help: "Active subscriptions (GraphQL subscriptions, and the server's own one to token revocations).",
		}),
	}
	m.Dropped.WithLabelValues(reasonSlow)
	m.Dropped.WithLabelValues(reasonDisconnected)
	return m
}

func (m *Metrics) delivered() {
	if m != nil {
		m.Delivered.Inc()
	}
}

func (m *Metrics) dropped(reason string) {
	if m != nil {
		m.Dropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) subscribers(delta float64) {
	if m != nil {
		m.Subscribers.Add(delta)
	}
}
