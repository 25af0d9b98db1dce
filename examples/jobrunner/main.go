// Command jobrunner is a small HTTP service that runs compute jobs, each in
// a sandbox of its own, a few at a time.
//
//	go run ./examples/jobrunner -addr 127.0.0.1:8080 -workers 2
//
//	curl -s -d '{"program":"/usr/bin/python3","args":["-c","print(6*7)"],"timeout_ms":5000}' localhost:8080/jobs
//	{"id":"1","status":"queued"}
//	curl -s localhost:8080/jobs/1
//	{"id":"1","status":"done","result":{"status":"exited","exit_code":0,...},"stdout":"42\n","stderr":""}
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen `address`")
	workers := flag.Int("workers", 2, "jobs run at once")
	queue := flag.Int("queue", 100, "jobs waiting at most")
	flag.Parse()
	s := NewServer(*workers, *queue)
	defer s.Close()
	log.Printf("jobrunner: listening on %s, %d workers", *addr, *workers)
	log.Fatal(http.ListenAndServe(*addr, s.Handler()))
}
