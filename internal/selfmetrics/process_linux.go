// Package selfmetrics provides the process_* metrics of the exporter itself.
//
// client_golang's process collector costs about 340µs a scrape here, most of
// it re-parsing the whole of /proc/stat for the boot time (which never
// changes) and /proc/self/net/netstat (whose counters are the network
// namespace's, not this process's). That alone put a scrape of this
// exporter above its latency target. This collector exposes the same series
// with the same names and HELP texts, reading /proc/self/stat, /proc/self/fd
// and /proc/self/limits on each scrape through prometheus/procfs, and the
// start time once. It leaves out process_network_*_bytes_total.
package selfmetrics

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

// userHZ is the kernel's clock tick for /proc stat times; procfs assumes it
// too (it is 100 on every Linux ABI Go supports).
const userHZ = 100

type processCollector struct {
	proc      procfs.Proc
	startTime float64

	cpu, openFDs, maxFDs, vsize, maxVsize, rss, start *prometheus.Desc
}

// NewProcessCollector returns a collector of this process's metrics. If
// /proc cannot be read it falls back to client_golang's collector, which
// reports what it can.
func NewProcessCollector() prometheus.Collector {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return fallback()
	}
	p, err := fs.Proc(os.Getpid())
	if err != nil {
		return fallback()
	}
	stat, err := p.Stat()
	if err != nil {
		return fallback()
	}
	st, err := fs.Stat()
	if err != nil {
		return fallback()
	}
	return &processCollector{
		proc:      p,
		startTime: float64(st.BootTime) + float64(stat.Starttime)/userHZ,
		cpu:       prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil),
		openFDs:   prometheus.NewDesc("process_open_fds", "Number of open file descriptors.", nil, nil),
		maxFDs:    prometheus.NewDesc("process_max_fds", "Maximum number of open file descriptors.", nil, nil),
		vsize:     prometheus.NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil, nil),
		maxVsize:  prometheus.NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", nil, nil),
		rss:       prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil),
		start:     prometheus.NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil, nil),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.openFDs, c.maxFDs, c.vsize, c.maxVsize, c.rss, c.start} {
		ch <- d
	}
}

// Collect sends what it could read; a file it cannot read leaves its series
// out, as client_golang's collector does by default.
func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.start, prometheus.GaugeValue, c.startTime)
	if stat, err := c.proc.Stat(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, stat.CPUTime())
		ch <- prometheus.MustNewConstMetric(c.vsize, prometheus.GaugeValue, float64(stat.VirtualMemory()))
		ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(stat.ResidentMemory()))
	}
	if fds, err := c.proc.FileDescriptorsLen(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.openFDs, prometheus.GaugeValue, float64(fds))
	}
	if limits, err := c.proc.Limits(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.maxFDs, prometheus.GaugeValue, float64(limits.OpenFiles))
		ch <- prometheus.MustNewConstMetric(c.maxVsize, prometheus.GaugeValue, float64(limits.AddressSpace))
	}
}
