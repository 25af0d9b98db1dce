package main

import (
	"encoding/json"
	"github.com/gosandbox/sandbox"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Post(url+"/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// wait polls a job until it is done or failed.
func wait(t *testing.T, url, id string) Job {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/jobs/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var j Job
		json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if j.Status == "done" || j.Status == "failed" {
			return j
		}
	}
	t.Fatalf("job %s did not finish", id)
	return Job{}
}

func TestJobs(t *testing.T) {
	s := NewServer(2, 10)
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	code, m := post(t, srv.URL, `{"program":"/usr/bin/python3","args":["-c","import sys; print(sum(map(int, sys.stdin.read().split())))"],"stdin":"1 2 3 36"}`)
	if code != http.StatusAccepted || m["id"] == "" {
		t.Fatalf("POST: %d %v", code, m)
	}
	j := wait(t, srv.URL, m["id"])
	if j.Status != "done" || j.Result.Status != sandbox.Exited || j.Result.ExitCode != 0 || j.Stdout != "42\n" {
		t.Errorf("job: %+v %+v", j, j.Result)
	}

	// Limits give verdicts; output is kept up to its cap.
	for body, want := range map[string]string{
		`{"program":"/bin/sh","args":["-c","while :; do :; done"],"timeout_ms":300}`:     "timeout",
		`{"program":"/bin/sh","args":["-c","head -c 1000000 /dev/zero"],"output_kib":1}`: "output_exceeded",
		`{"program":"/bin/sh","args":["-c","exit 3"]}`:                                   "exited",
		`{"program":"/usr/bin/unshare","args":["-U","true"]}`:                            "exited",
	} {
		_, m := post(t, srv.URL, body)
		j := wait(t, srv.URL, m["id"])
		if j.Result == nil || j.Result.Status.String() != want {
			t.Errorf("%s: %+v %+v", body, j, j.Result)
		}
		if want == "output_exceeded" && (len(j.Stdout) > 1024 || !j.Result.OutputTruncated) {
			t.Errorf("output: %d bytes kept", len(j.Stdout))
		}
	}

	// A program that does not exist: the job fails with the sandbox's error.
	_, m = post(t, srv.URL, `{"program":"/no/such/program"}`)
	if j := wait(t, srv.URL, m["id"]); j.Status != "failed" || !strings.Contains(j.Error, "not found") {
		t.Errorf("missing program: %+v", j)
	}
}

func TestBadRequests(t *testing.T) {
	s := NewServer(1, 1)
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, body := range []string{
		`not json`,
		`{"program":"python3"}`,
		`{}`,
		`{"program":"/bin/true","timeout_ms":-1}`,
		`{"program":"/bin/true","memory_mib":100000}`,
		`{"program":"/bin/true","colour":"blue"}`,
		`{"program":"/bin/tr\u0000ue"}`,
	} {
		if code, m := post(t, srv.URL, body); code != http.StatusBadRequest || m["error"] == "" {
			t.Errorf("%s: %d %v, want 400 with a reason", body, code, m)
		}
	}
	resp, err := http.Get(srv.URL + "/jobs/999")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}

// Jobs queue behind the concurrency limit.
func TestConcurrencyLimit(t *testing.T) {
	s := NewServer(2, 10)
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var ids []string
	for range 6 {
		_, m := post(t, srv.URL, `{"program":"/bin/sleep","args":["0.2"]}`)
		ids = append(ids, m["id"])
	}
	for _, id := range ids {
		if j := wait(t, srv.URL, id); j.Status != "done" || j.Result.ExitCode != 0 {
			t.Errorf("job %s: %+v", id, j)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peak != 2 {
		t.Errorf("%d jobs ran at once, want 2", s.peak)
	}
}
