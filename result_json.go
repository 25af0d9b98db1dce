package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// resultJSON is Result as JSON: the CLI's --result fields.
type resultJSON struct {
	Status           Status          `json:"status"`
	ExitCode         int             `json:"exit_code"`
	Signal           string          `json:"signal"`
	CoreDumped       bool            `json:"core_dumped"`
	SeccompMode      SeccompMode     `json:"seccomp_mode"`
	Violations       []violationJSON `json:"violations"`
	ViolationCount   int             `json:"violation_count"`
	WallTimeNS       int64           `json:"wall_time_ns"`
	CPUTimeNS        int64           `json:"cpu_time_ns"`
	PeakMemoryBytes  int64           `json:"peak_memory_bytes"`
	OutputTruncated  bool            `json:"output_truncated"`
	PidsLimitReached bool            `json:"pids_limit_reached"`
	Warnings         []string        `json:"warnings,omitempty"`
}

type violationJSON struct {
	Syscall string          `json:"syscall"`
	Number  int             `json:"number"`
	Arch    string          `json:"arch"`
	Action  ViolationAction `json:"action"`
}

// MarshalJSON writes the Result with the CLI's field names (snake case,
// times in nanoseconds, the signal by name as "SIGKILL", or "").
func (r *Result) MarshalJSON() ([]byte, error) {
	j := resultJSON{
		Status: r.Status, ExitCode: r.ExitCode, Signal: SignalName(r.Signal), CoreDumped: r.CoreDumped,
		SeccompMode: r.SeccompMode, Violations: []violationJSON{}, ViolationCount: r.ViolationCount,
		WallTimeNS: r.WallTime.Nanoseconds(), CPUTimeNS: r.CPUTime.Nanoseconds(), PeakMemoryBytes: r.PeakMemory,
		OutputTruncated: r.OutputTruncated, PidsLimitReached: r.PidsLimitReached, Warnings: r.Warnings,
	}
	for _, v := range r.Violations {
		j.Violations = append(j.Violations, violationJSON{v.Syscall, v.Number, v.Arch, v.Action})
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes (a violation's arguments
// and source are not in it).
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	sig, err := signalNumber(j.Signal)
	if err != nil {
		return err
	}
	*r = Result{
		Status: j.Status, ExitCode: j.ExitCode, Signal: sig, CoreDumped: j.CoreDumped, SeccompMode: j.SeccompMode,
		ViolationCount: j.ViolationCount, WallTime: time.Duration(j.WallTimeNS), CPUTime: time.Duration(j.CPUTimeNS),
		PeakMemory: j.PeakMemoryBytes, OutputTruncated: j.OutputTruncated, PidsLimitReached: j.PidsLimitReached,
		Warnings: j.Warnings,
	}
	for _, v := range j.Violations {
		r.Violations = append(r.Violations, Violation{Syscall: v.Syscall, Number: v.Number, Arch: v.Arch, Action: v.Action})
	}
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	for st, n := range statusNames {
		if n == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("sandbox: unknown status %q", b)
}

// UnmarshalText implements encoding.TextUnmarshaler; "" is no mode.
func (m *SeccompMode) UnmarshalText(b []byte) error {
	for md, n := range modeNames {
		if n == string(b) {
			*m = md
			return nil
		}
	}
	if len(b) == 0 {
		*m = 0
		return nil
	}
	return fmt.Errorf("sandbox: unknown seccomp mode %q", b)
}

// signalNames are Linux's (amd64 and arm64 alike), by number.
var signalNames = [...]string{1: "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
	"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
	"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
	"SIGIO", "SIGPWR", "SIGSYS"}

// SignalName returns a signal's name as in the CLI and the JSON of a
// Result ("SIGKILL"; "SIGRTMIN+3" for real-time ones), or "" for 0.
func SignalName(s syscall.Signal) string {
	switch {
	case s == 0:
		return ""
	case int(s) < len(signalNames):
		return signalNames[s]
	case s >= 34 && s <= 64:
		return "SIGRTMIN+" + strconv.Itoa(int(s)-34)
	}
	return "signal " + strconv.Itoa(int(s))
}

func signalNumber(name string) (syscall.Signal, error) {
	if name == "" {
		return 0, nil
	}
	for n, s := range signalNames {
		if s == name && n > 0 {
			return syscall.Signal(n), nil
		}
	}
	if rt, ok := strings.CutPrefix(name, "SIGRTMIN+"); ok {
		if n, err := strconv.Atoi(rt); err == nil && n >= 0 && n <= 30 {
			return syscall.Signal(34 + n), nil
		}
	}
	return 0, fmt.Errorf("sandbox: unknown signal %q", name)
}
