//go:build linux && cgo

package sandbox

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gosandbox/sandbox/internal/launch"
	"github.com/gosandbox/sandbox/ns"
)

// The child's order of operations, for a table of configurations, without
// privilege (nothing is started): the orderings security depends on, as
// the doc comment of config.spec lists them.
func TestChildOrder(t *testing.T) {
	filter := &filtered{prog: &program{bpf: make([]byte, 8), notify: make([]byte, 8)}}
	rec := &learned{calls: map[call]bool{}}
	learn := func(c *config) error {
		c.learn = rec
		return setPolicy(c, "Learn", learnPolicy)
	}
	tests := []struct {
		name string
		opts []Option
		mode mode
	}{
		{"default", nil, filter},
		{"no user namespace", []Option{WithoutNamespaces(ns.User)}, filter},
		{"strict", []Option{WithStrict()}, &strictMode{call: -1}},
		// A learning filter has no notify variant.
		{"learn", []Option{learn}, &learning{filtered: &filtered{prog: &program{bpf: make([]byte, 8)}}, rec: rec}},
		{"no mount namespace", []Option{WithoutNamespaces(ns.Mount)}, filter},
		{"no pid namespace", []Option{WithoutNamespaces(ns.PID)}, filter},
		{"no init", []Option{WithoutInit()}, filter},
		{"binds", []Option{WithBind("/usr", "/x"), WithBindRW(os.TempDir(), "/w")}, filter},
		{"unconfined", []Option{WithoutSeccomp()}, unconfined{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newConfig(tt.opts)
			if err != nil && !(os.Geteuid() != 0 && !c.namespaces.Has(ns.User)) {
				t.Fatal(err) // rootless, only the check for a user namespace may fail: nothing starts here
			}
			for _, park := range []bool{false, true} {
				checkChildOrder(t, c, tt.mode, park)
			}
		})
	}
}

// checkChildOrder checks the orderings of the steps for c and m; with
// park (a Pool's prepared child), also that the park comes after
// everything that depends on the configuration alone and before
// everything that depends on the program.
func checkChildOrder(t *testing.T, c *config, m mode, park bool) {
	part := wholeLaunch
	if park {
		part = parkedLaunch
	}
	spec, err := c.spec(Command("/bin/true"), m, []int32{0, 1, 2}, []string{"true"}, nil, []string{"/bin/true"}, &setup{}, part)
	if err != nil {
		t.Fatal(err)
	}
	if park {
		// A run in a prepared child is given the steps after the
		// park, and no other.
		tail, err := c.spec(Command("/bin/true"), m, []int32{0, 1, 2}, []string{"true"}, nil, []string{"/bin/true"}, &setup{}, afterPark)
		if err != nil {
			t.Fatal(err)
		}
		_, want := spec.Program.Split()
		if diff := cmp.Diff(want.Descs(), tail.Program.Descs()); diff != "" {
			t.Errorf("the steps after the park (-parked launch's, +afterPark):\n%s", diff)
		}
	}
	d := spec.Program.Descs()
	at := func(match func(launch.Desc) bool) []int {
		var is []int
		for i, x := range d {
			if match(x) {
				is = append(is, i)
			}
		}
		return is
	}
	stage := func(s string) func(launch.Desc) bool { return func(x launch.Desc) bool { return x.Stage == s } }
	op := func(prefix string) func(launch.Desc) bool {
		return func(x launch.Desc) bool { return strings.HasPrefix(x.Op, prefix) }
	}
	one := func(what string, is []int) int {
		t.Helper()
		if len(is) != 1 {
			t.Fatalf("%d %s steps in %v", len(is), what, d)
		}
		return is[0]
	}
	before := func(a string, ia int, b string, ib int) {
		t.Helper()
		if ia >= ib {
			t.Errorf("%s (step %d) not before %s (step %d): %v", a, ia, b, ib, d)
		}
	}
	last := len(d) - 1
	if d[last].Stage != "exec" {
		t.Fatalf("the last step is %+v, not the exec", d[last])
	}
	uid := one("setresuid", at(op("setresuid")))
	nnp := one("no_new_privs", at(op("no_new_privs")))
	pdeath := one("parent-death signal", at(op("parent-death signal")))
	before("the id change", uid, "the parent-death signal", pdeath)
	before("no_new_privs", nnp, "the exec", last)
	_, none := m.(unconfined)
	_, strict := m.(*strictMode)
	if !none && !strict {
		// The filter judges the program alone: last before exec.
		sc := one("seccomp", at(stage("seccomp")))
		if sc != last-1 {
			t.Errorf("seccomp at step %d, the exec at %d: %v", sc, last, d)
		}
		before("no_new_privs", nnp, "seccomp", sc)
	} else if len(at(stage("seccomp"))) != 0 {
		t.Errorf("a seccomp step with no filter: %v", d)
	}
	for _, capture := range at(op("open_tree")) {
		before("a capture of a host path", capture, "the id change", uid)
	}
	if c.namespaces.Has(ns.Mount) {
		pivot := one("pivot_root", at(op("pivot_root")))
		chdir := one("chdir", at(stage("workdir")))
		fds := one("fds", at(stage("fds")))
		before("pivot_root", pivot, "chdir", chdir)
		before("chdir", chdir, "the fds", fds)
	}
	inits := at(stage("init"))
	if want := c.namespaces.Has(ns.PID) && !c.noInit; want != (len(inits) == 1) {
		t.Fatalf("init steps %v, want one: %v", inits, want)
	}
	if len(inits) == 1 {
		before("the parent-death signal", pdeath, "the init", inits[0])
		before("no_new_privs", nnp, "the init", inits[0])
		if sc := at(stage("seccomp")); len(sc) == 1 {
			before("the init", inits[0], "seccomp", sc[0])
		}
	}
	if tr := at(op("PTRACE_SEIZE")); m.traced() {
		before("the tracer's seize", one("seize", tr), "the exec", last)
	}
	parks := at(stage("pool"))
	if !park {
		if len(parks) != 0 {
			t.Errorf("a park step in a cold launch: %v", d)
		}
		return
	}
	pk := one("park", parks)
	for _, i := range append(at(op("pivot_root")), append(at(op("open_tree")), append(at(stage("uts")), at(op("drop bounding set"))...)...)...) {
		before(d[i].Op, i, "the park", pk)
	}
	if c.namespaces.Has(ns.User) {
		before("the id change", uid, "the park", pk)
	}
	for _, i := range append(at(stage("workdir")), append(at(stage("fds")), nnp, pdeath, last)...) {
		before("the park", pk, d[i].Op, i)
	}
}
