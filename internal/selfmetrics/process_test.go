//go:build linux

package selfmetrics

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

func val(mf *dto.MetricFamily) float64 {
	m := mf.GetMetric()[0]
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestMatchesClientGolang: the same series, types and HELP as client_golang's
// collector (less the namespace-wide network counters), with values that
// agree.
func TestMatchesClientGolang(t *testing.T) {
	ours := gather(t, NewProcessCollector())
	theirs := gather(t, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, want := range theirs {
		if name == "process_network_receive_bytes_total" || name == "process_network_transmit_bytes_total" {
			continue
		}
		got, ok := ours[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if got.GetHelp() != want.GetHelp() || got.GetType() != want.GetType() {
			t.Errorf("%s: HELP/TYPE %q/%v, want %q/%v", name, got.GetHelp(), got.GetType(), want.GetHelp(), want.GetType())
		}
		g, w := val(got), val(want)
		switch name {
		case "process_start_time_seconds":
			if math.Abs(g-w) > 0.02 {
				t.Errorf("start time %v, want %v", g, w)
			}
		case "process_max_fds", "process_virtual_memory_max_bytes":
			if g != w {
				t.Errorf("%s = %v, want %v", name, g, w)
			}
		case "process_cpu_seconds_total":
			// Read a moment apart, in ticks of 10ms.
			if g < 0 || math.Abs(g-w) > 0.1 {
				t.Errorf("%s = %v, client_golang says %v", name, g, w)
			}
		case "process_open_fds":
			if g <= 0 || math.Abs(g-w) > 3 {
				t.Errorf("%s = %v, client_golang says %v", name, g, w)
			}
		default: // memory: read a moment apart, allow 10%
			if g <= 0 || math.Abs(g-w) > 0.1*w {
				t.Errorf("%s = %v, client_golang says %v", name, g, w)
			}
		}
	}
	if len(ours) != 7 {
		t.Errorf("got %d series, want 7", len(ours))
	}
	if st := val(ours["process_start_time_seconds"]); math.Abs(st-float64(time.Now().Unix())) > 3600 {
		t.Errorf("start time %v is not near now", st)
	}
	// Opening a file shows in process_open_fds on the next scrape.
	before := val(gather(t, NewProcessCollector())["process_open_fds"])
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after := val(gather(t, NewProcessCollector())["process_open_fds"]); after != before+1 {
		t.Errorf("open fds %v after opening one more than %v", after, before)
	}
}

func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewProcessCollector())
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func BenchmarkOurs(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewProcessCollector())
	b.ReportAllocs()
	for b.Loop() {
		_, _ = reg.Gather()
	}
}

func BenchmarkClientGolang(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = reg.Gather()
	}
}
