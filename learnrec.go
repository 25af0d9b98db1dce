package sandbox

import "sync"

// call is a system call as a filter sees it.
type call struct {
	arch uint32
	nr   int32
}

// learned records the calls of a learning run.
type learned struct {
	mu    sync.Mutex
	calls map[call]bool
}

func (l *learned) add(c call) {
	l.mu.Lock()
	l.calls[c] = true
	l.mu.Unlock()
}
