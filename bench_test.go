package sandbox_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// BenchmarkLaunchPool times os/exec of /bin/true and a Pool's Run of it
// (the same isolation and policy as BenchmarkLaunch), one launch at a
// time on a quiet machine: before each, the Pool has its child ready and
// 5 ms pass untimed, for the kernel to finish tearing down the last
// sandbox (a network namespace goes in a worker) and the filler to rest.
// The two alternate; it reports both medians and their ratio ("ratio",
// target <= 1.5).
func BenchmarkLaunchPool(b *testing.B) {
	pl, err := sandbox.NewPool(1)
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	var te, tp []time.Duration
	for i := 0; b.Loop(); i++ {
		for sandbox.PoolReady(pl) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(5 * time.Millisecond)
		t0 := time.Now()
		if i%2 == 0 {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
			te = append(te, time.Since(t0))
			continue
		}
		res, err := pl.Run(sandbox.Command("/bin/true"))
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Pool.Run: %v %+v", err, res)
		}
		tp = append(tp, time.Since(t0))
	}
	p, s := median(te), median(tp)
	b.ReportMetric(float64(p.Nanoseconds()), "exec-ns")
	b.ReportMetric(float64(s.Nanoseconds()), "pool-ns")
	b.ReportMetric(float64(s)/float64(p), "ratio")
}

// BenchmarkFirstRun starts a fresh process (this test binary) for each
// iteration, which times its first sandbox.Run of /bin/true, then a
// second one, and reports the medians ("first-ns", "warm-ns") and their
// ratio ("first-ratio", target <= 2): what a CLI invocation or a new
// worker process pays once, the zygote's start and the policy included.
func BenchmarkFirstRun(b *testing.B) {
	var first, warm []time.Duration
	for b.Loop() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), firstRunEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		var f, w int64
		if _, err := fmt.Sscanf(string(out), "first %d warm %d", &f, &w); err != nil {
			b.Fatalf("%q: %v", out, err)
		}
		first, warm = append(first, time.Duration(f)), append(warm, time.Duration(w))
	}
	b.ReportMetric(float64(median(first).Nanoseconds()), "first-ns")
	b.ReportMetric(float64(median(warm).Nanoseconds()), "warm-ns")
	b.ReportMetric(float64(median(first))/float64(median(warm)), "first-ratio")
}

// firstRunEnv makes TestMain run firstRun.
const firstRunEnv = "GOSANDBOX_BENCH_FIRST_RUN"

// firstRun prints the times of this process's first and second Run.
func firstRun() int {
	var d [2]time.Duration
	for i := range d {
		t0 := time.Now()
		if err := runTrue(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		d[i] = time.Since(t0)
	}
	fmt.Printf("first %d warm %d\n", d[0].Nanoseconds(), d[1].Nanoseconds())
	return 0
}

// BenchmarkThroughput runs /bin/true from 4 goroutines at once, 25 times
// each, with os/exec, with sandbox.Run and with a Pool of 4, in turn, and
// reports the median rates ("exec-per-s", "sandbox-per-s", "pool-per-s")
// and the ratios to os/exec ("throughput-ratio", target >= 0.8;
// "pool-ratio").
func BenchmarkThroughput(b *testing.B) {
	const workers, each = 4, 25
	pl, err := sandbox.NewPool(workers)
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	round := func(f func() error) float64 {
		t0 := time.Now()
		var g errgroup
		for range workers {
			g.Go(func() error {
				for range each {
					if err := f(); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return workers * each / time.Since(t0).Seconds()
	}
	poolTrue := func() error {
		res, err := pl.Run(sandbox.Command("/bin/true"))
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("Pool.Run: %+v", res)
		}
		return err
	}
	var ex, sb, po []float64
	for b.Loop() {
		ex = append(ex, round(func() error { return exec.Command("/bin/true").Run() }))
		sb = append(sb, round(func() error { return runTrue() }))
		po = append(po, round(poolTrue))
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	e, s, p := med(ex), med(sb), med(po)
	b.ReportMetric(e, "exec-per-s")
	b.ReportMetric(s, "sandbox-per-s")
	b.ReportMetric(p, "pool-per-s")
	b.ReportMetric(s/e, "throughput-ratio")
	b.ReportMetric(p/e, "pool-ratio")
}

// errgroup runs functions in goroutines and keeps the first error.
type errgroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errgroup) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	})
}

func (g *errgroup) Wait() error {
	g.wg.Wait()
	return g.err
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
