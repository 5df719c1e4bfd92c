//go:build !linux

package selfmetrics

import "github.com/prometheus/client_golang/prometheus"

// NewProcessCollector returns client_golang's process collector: the lean
// one reads Linux's /proc.
func NewProcessCollector() prometheus.Collector { return fallback() }
