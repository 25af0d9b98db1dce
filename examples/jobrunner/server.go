package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosandbox/sandbox"
)

// Request is a job as POST /jobs takes it.
type Request struct {
	Program   string   `json:"program"` // an absolute path inside the sandbox
	Args      []string `json:"args"`
	Stdin     string   `json:"stdin"`
	TimeoutMS int64    `json:"timeout_ms"`
	CPUTimeMS int64    `json:"cpu_time_ms"`
	MemoryMiB int64    `json:"memory_mib"`
	OutputKiB int64    `json:"output_kib"` // stdout and stderr together
}

// The bounds of a request, and the defaults of its limits.
const (
	maxArgs      = 64
	maxStdin     = 1 << 20
	maxTimeout   = 60_000
	maxMemoryMiB = 1024
	maxOutputKiB = 1024

	defaultTimeoutMS = 10_000
	defaultMemoryMiB = 256
	defaultOutputKiB = 64
)

// Job is a job's state, as GET /jobs/{id} returns it.
type Job struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`           // queued, running, done, failed
	Result *sandbox.Result `json:"result,omitempty"` // the SDK's own JSON
	Stdout string          `json:"stdout"`
	Stderr string          `json:"stderr"`
	Error  string          `json:"error,omitempty"` // why the sandbox could not run it

	req Request
}

// Server queues jobs and runs them with a fixed number of workers.
type Server struct {
	mu      sync.Mutex
	jobs    map[string]*Job
	next    int
	queue   chan *Job
	running int
	peak    int // the most jobs that ever ran at once
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewServer starts workers that run jobs from a queue of queueLen.
func NewServer(workers, queueLen int) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{jobs: map[string]*Job{}, queue: make(chan *Job, queueLen), ctx: ctx, cancel: cancel}
	for range workers {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

// Close stops the workers (running jobs are killed) and removes the
// cgroups kept for reuse.
func (s *Server) Close() {
	s.cancel()
	close(s.queue)
	s.wg.Wait()
	_ = sandbox.Shutdown()
}

// Handler serves POST /jobs and GET /jobs/{id}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", s.submit)
	mux.HandleFunc("GET /jobs/{id}", s.status)
	return mux
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*maxStdin))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
		return
	}
	if err := req.check(); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	s.next++
	j := &Job{ID: strconv.Itoa(s.next), Status: "queued", req: req}
	s.jobs[j.ID] = j
	s.mu.Unlock()
	select {
	case s.queue <- j:
		reply(w, http.StatusAccepted, map[string]string{"id": j.ID, "status": "queued"})
	default:
		s.mu.Lock()
		delete(s.jobs, j.ID)
		s.mu.Unlock()
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": "the queue is full"})
	}
}

// check validates a request and fills in default limits.
func (r *Request) check() error {
	switch {
	case r.Program == "" || !path.IsAbs(r.Program):
		return errors.New("program: want an absolute path inside the sandbox")
	case len(r.Args) > maxArgs:
		return fmt.Errorf("args: more than %d", maxArgs)
	case len(r.Stdin) > maxStdin:
		return fmt.Errorf("stdin: more than %d bytes", maxStdin)
	}
	for _, a := range append([]string{r.Program}, r.Args...) {
		if strings.ContainsRune(a, 0) {
			return errors.New("program and args: NUL byte")
		}
	}
	for _, l := range []struct {
		name     string
		v        *int64
		def, max int64
	}{
		{"timeout_ms", &r.TimeoutMS, defaultTimeoutMS, maxTimeout},
		{"cpu_time_ms", &r.CPUTimeMS, 0, maxTimeout},
		{"memory_mib", &r.MemoryMiB, defaultMemoryMiB, maxMemoryMiB},
		{"output_kib", &r.OutputKiB, defaultOutputKiB, maxOutputKiB},
	} {
		switch {
		case *l.v < 0 || *l.v > l.max:
			return fmt.Errorf("%s: %d is not within 0-%d", l.name, *l.v, l.max)
		case *l.v == 0:
			*l.v = l.def
		}
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j, ok := s.jobs[r.PathValue("id")]
	var out Job
	if ok {
		out = *j
	}
	s.mu.Unlock()
	if !ok {
		reply(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	reply(w, http.StatusOK, &out)
}

func (s *Server) work() {
	defer s.wg.Done()
	for j := range s.queue {
		s.mu.Lock()
		j.Status = "running"
		s.running++
		s.peak = max(s.peak, s.running)
		s.mu.Unlock()
		res, stdout, stderr, err := run(s.ctx, &j.req)
		s.mu.Lock()
		s.running--
		j.Stdout, j.Stderr = stdout, stderr
		if err != nil {
			j.Status, j.Error = "failed", err.Error()
		} else {
			j.Status, j.Result = "done", res
		}
		s.mu.Unlock()
	}
}

// run runs one job in a sandbox: Docker's default profile, no network,
// the request's limits, stdout and stderr kept up to the output limit.
func run(ctx context.Context, req *Request) (*sandbox.Result, string, string, error) {
	var stdout, stderr bytes.Buffer
	cmd := sandbox.Command(req.Program, req.Args...)
	cmd.Env = []string{"PATH=" + sandbox.DefaultPath}
	cmd.Stdin = strings.NewReader(req.Stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	opts := []sandbox.Option{
		sandbox.WithTimeout(time.Duration(req.TimeoutMS) * time.Millisecond),
		sandbox.WithMemory(req.MemoryMiB << 20),
		sandbox.WithOutputLimit(req.OutputKiB << 10),
		sandbox.WithPids(64),
		sandbox.WithBestEffort(),
	}
	if req.CPUTimeMS > 0 {
		opts = append(opts, sandbox.WithCPUTime(time.Duration(req.CPUTimeMS)*time.Millisecond))
	}
	res, err := sandbox.RunContext(ctx, cmd, opts...)
	if err != nil {
		return nil, "", "", err
	}
	return res, stdout.String(), stderr.String(), nil
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
