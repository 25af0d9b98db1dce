//go:build linux && cgo

package sandbox

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// stdio holds the program's fds 0, 1, 2 and extras, and the pipes and copy
// goroutines behind non-file readers and writers.
type stdio struct {
	fds       []int32
	child     []*os.File // our copies of the child's ends, closed after the start
	keep      []*os.File // files whose fds are passed, kept alive until the start
	parent    []*os.File // our ends, closed when done
	copies    []func()
	stdinCopy func()
	stdinSrc  io.Reader     // what stdinCopy reads
	stdinPipe *os.File      // and writes to
	stdinDone chan struct{} // closed when stdinCopy returns
	wg        sync.WaitGroup
	cap       *capper // nil: no output limit
}

// newStdio sets up the program's stdio. With an output limit, stdout and
// stderr always go through pipes and collectors that share the limit, and
// exceeded is called once when it is passed. Without one, the writers
// that are not files share DefaultOutputLimit, and nothing else counts
// toward it. direct passes every *os.File as it is (WithDirectFiles).
func newStdio(cmd *Cmd, limit int64, direct bool, exceeded func()) (*stdio, error) {
	s := &stdio{}
	collectAll := limit > 0 // the caller's limit counts every byte
	if !collectAll && (isWriter(cmd.Stdout) || isWriter(cmd.Stderr)) {
		// A bytes.Buffer grows with the output: not without bound.
		limit = DefaultOutputLimit
	}
	if limit > 0 {
		s.cap = &capper{left: limit, exceeded: exceeded}
	}
	passable := func(f *os.File) bool { return direct || passAsIs(f) }
	var devNull *os.File
	null := func() (*os.File, error) {
		if devNull == nil {
			f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, &SetupError{Stage: "stdio", Op: "open", Path: os.DevNull, Err: err}
			}
			devNull = f
			s.child = append(s.child, f)
		}
		return devNull, nil
	}
	add := func(f *os.File) { s.fds = append(s.fds, int32(f.Fd())) }
	fail := func(err error) (*stdio, error) {
		s.closeAll()
		return nil, err
	}

	if f, ok := cmd.Stdin.(*os.File); ok && passable(f) {
		s.keep = append(s.keep, f)
		add(f)
	} else if cmd.Stdin == nil {
		f, err := null()
		if err != nil {
			return fail(err)
		}
		add(f)
	} else if err := s.feed(cmd.Stdin, add); err != nil {
		// Any other reader, a regular file or a socket among them.
		return fail(err)
	}
	var shared *os.File
	for _, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		f, isFile := w.(*os.File)
		switch {
		case w == nil && !collectAll:
			f, err := null()
			if err != nil {
				return fail(err)
			}
			add(f)
		case isFile && !collectAll && passable(f):
			s.keep = append(s.keep, f)
			add(f)
		case shared != nil && sameWriter(cmd.Stdout, cmd.Stderr):
			add(shared)
		default:
			if w == nil {
				w = io.Discard // counted all the same
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(&SetupError{Stage: "stdio", Op: "pipe", Err: err})
			}
			s.child = append(s.child, pw)
			s.parent = append(s.parent, pr)
			shared = pw
			add(pw)
			s.copies = append(s.copies, func() { s.collect(w, pr) })
		}
	}
	for _, f := range cmd.ExtraFiles {
		s.keep = append(s.keep, f)
		add(f)
	}
	return s, nil
}

// feed makes the program's stdin a pipe that a goroutine fills from r.
func (s *stdio) feed(r io.Reader, add func(*os.File)) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return &SetupError{Stage: "stdio", Op: "pipe", Err: err}
	}
	s.child = append(s.child, pr)
	s.parent = append(s.parent, pw)
	add(pr)
	s.stdinSrc, s.stdinPipe, s.stdinDone = r, pw, make(chan struct{})
	s.stdinCopy = func() {
		defer close(s.stdinDone)
		_, _ = io.Copy(pw, r)
		pw.Close()
	}
	return nil
}

// stopStdin ends the stdin copy once the program is gone, so that no
// goroutine of the run outlives Run: a write to the closed pipe fails, and
// a Read that blocks is cut short where the reader has a read deadline
// (os.File, net.Conn), then the deadline is cleared again, leaving the
// reader as it was. A reader with no deadline (or one that ignores it,
// waited for a second at most) keeps its goroutine until its Read
// returns.
func (s *stdio) stopStdin() {
	if s.stdinDone == nil {
		return
	}
	s.stdinPipe.Close()
	d, ok := s.stdinSrc.(interface{ SetReadDeadline(time.Time) error })
	if !ok || d.SetReadDeadline(time.Now()) != nil {
		return
	}
	// Bounded: a reader that ignores its deadline must not hold Run.
	select {
	case <-s.stdinDone:
		_ = d.SetReadDeadline(time.Time{})
	case <-time.After(time.Second):
	}
}

// passAsIs says whether f may be the program's own: a pipe or a character
// device (a terminal, /dev/null) holds nothing of the caller's to read
// back or rewrite.
func passAsIs(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeCharDevice) != 0
}

// isWriter says whether w is a writer that is not a file.
func isWriter(w io.Writer) bool {
	_, isFile := w.(*os.File)
	return w != nil && !isFile
}

// collect copies the program's output from r to w, up to the output
// limit. Past the limit, or once w fails, it reads on and drops what it
// reads, so that the program never blocks on a full pipe.
func (s *stdio) collect(w io.Writer, r *os.File) {
	buf := make([]byte, 32<<10)
	failed := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if k := s.cap.admit(n); k > 0 && !failed {
				_, werr := w.Write(buf[:k])
				failed = werr != nil
			}
		}
		if err != nil {
			return
		}
	}
}

// truncated says whether the output limit cut the output.
func (s *stdio) truncated() bool { return s.cap != nil && s.cap.cut.Load() }

// capper shares an output limit between stdout and stderr.
type capper struct {
	mu       sync.Mutex
	left     int64
	cut      atomic.Bool
	exceeded func()
}

// admit returns how many of n bytes may still be delivered; the first time
// it must refuse some, it calls exceeded. A nil capper admits everything.
func (c *capper) admit(n int) int {
	if c == nil {
		return n
	}
	c.mu.Lock()
	k := int(min(int64(n), c.left))
	c.left -= int64(k)
	c.mu.Unlock()
	if k < n && !c.cut.Swap(true) {
		c.exceeded()
	}
	return k
}

// closeChildEnds closes our copies of what the child now holds.
func (s *stdio) closeChildEnds() {
	for _, f := range s.child {
		f.Close()
	}
	s.child = nil
	s.keep = nil
}

// start starts the copy goroutines.
func (s *stdio) start() {
	if s.stdinCopy != nil {
		go s.stdinCopy()
	}
	for _, c := range s.copies {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c()
		}()
	}
}

// wait waits for the output copies: they end when every process that held
// the pipes is gone.
func (s *stdio) wait() { s.wg.Wait() }

func (s *stdio) closeAll() {
	s.closeChildEnds()
	for _, f := range s.parent {
		f.Close()
	}
	s.parent = nil
}

// sameWriter reports whether a and b are the same writer; writers of
// uncomparable types are never the same.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
