package sandbox_test

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosandbox/sandbox"
)

// BenchmarkLaunch times, interleaved in one run, a plain
// os/exec.Command("/bin/true").Run() and sandbox.Run of /bin/true with full
// isolation and Docker's default profile. It reports both medians and
// their ratio ("ratio", the figure to watch: target <= 3.5). The 512MiB-heap
// case holds 512 MiB of touched heap in the benchmark process; its
// sandbox-ns should stay within 1.2x of the small-heap case's.
func BenchmarkLaunch(b *testing.B) {
	b.Run("heap=small", func(b *testing.B) { benchLaunch(b, 0) })
	b.Run("heap=512MiB", func(b *testing.B) { benchLaunch(b, 512<<20) })
}

// BenchmarkLaunchLimits times, interleaved, sandbox.Run of /bin/true with
// and without memory, pids and CPU-time limits (which need a cgroup), and
// reports the ratio of the medians ("limits-ratio", target <= 1.5).
func BenchmarkLaunchLimits(b *testing.B) {
	limits := []sandbox.Option{sandbox.WithMemory(256 << 20), sandbox.WithPids(64), sandbox.WithCPUTime(10 * time.Second)}
	p, l := interleave(b, func() error { return runTrue() }, func() error { return runTrue(limits...) })
	b.ReportMetric(float64(p.Nanoseconds()), "plain-ns")
	b.ReportMetric(float64(l.Nanoseconds()), "limits-ns")
	b.ReportMetric(float64(l)/float64(p), "limits-ratio")
}

// BenchmarkInit times, interleaved, sandbox.Run of /bin/true with the
// default init as pid 1 and WithoutInit, and reports what the init adds
// ("init-ns", the difference of the medians) and the ratio
// ("init-ratio").
func BenchmarkInit(b *testing.B) {
	without, with := interleave(b, func() error { return runTrue(sandbox.WithoutInit()) }, func() error { return runTrue() })
	b.ReportMetric(float64((with - without).Nanoseconds()), "init-ns")
	b.ReportMetric(float64(with)/float64(without), "init-ratio")
}

var ballast []byte

func benchLaunch(b *testing.B, heap int) {
	if heap > 0 {
		ballast = make([]byte, heap)
		for i := 0; i < len(ballast); i += 4096 {
			ballast[i] = 1
		}
		defer func() { ballast = nil; runtime.GC() }()
	}
	p, s := interleave(b, func() error { return exec.Command("/bin/true").Run() },
		func() error { return runTrue() })
	b.ReportMetric(float64(p.Nanoseconds()), "exec-ns")
	b.ReportMetric(float64(s.Nanoseconds()), "sandbox-ns")
	b.ReportMetric(float64(s)/float64(p), "ratio")
}

// interleave times a and b in turn, b.N times each, and returns their
// medians.
func interleave(b *testing.B, fa, fb func() error) (ma, mb time.Duration) {
	var ta, tb []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := fa(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := fb(); err != nil {
			b.Fatal(err)
		}
		ta, tb = append(ta, t1.Sub(t0)), append(tb, time.Since(t1))
	}
	return median(ta), median(tb)
}

// runTrue runs /bin/true in a sandbox and fails unless it exits 0.
func runTrue(opts ...sandbox.Option) error {
	res, err := sandbox.Run(sandbox.Command("/bin/true"), opts...)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("sandbox.Run: %+v", res)
	}
	return err
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkSyscallCost runs a static guest that makes n 1-byte writes to
// /dev/null under strict mode, Docker's default filter and no filter, and
// reports the CPU time of one write in each ("strict-ns", "filter-ns",
// "none-ns") and the ratios to no filter ("strict-ratio", "filter-ratio").
func BenchmarkSyscallCost(b *testing.B) {
	const n = 1_000_000
	dir := guests(b)
	modes := []struct {
		name string
		opt  sandbox.Option
	}{
		{"strict", sandbox.WithStrict()},
		{"filter", sandbox.WithDockerDefault()},
		{"none", sandbox.WithoutSeccomp()},
	}
	per := map[string][]time.Duration{}
	for b.Loop() {
		for _, m := range modes {
			cmd := sandbox.Command("/g/writes")
			cmd.Stdin = strings.NewReader(strconv.Itoa(n))
			res, err := sandbox.Run(cmd, m.opt, sandbox.WithBind(dir, "/g"))
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%s: %v %+v", m.name, err, res)
			}
			per[m.name] = append(per[m.name], res.CPUTime/n)
		}
	}
	none := float64(median(per["none"]))
	for _, m := range modes {
		b.ReportMetric(float64(median(per[m.name]).Nanoseconds()), m.name+"-ns")
	}
	b.ReportMetric(float64(median(per["strict"]))/none, "strict-ratio")
	b.ReportMetric(float64(median(per["filter"]))/none, "filter-ratio")
}
