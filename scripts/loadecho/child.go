package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server process the harness started: the measured side of a
// comparison, so that the client's CPU is not counted in it.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // output lines after readiness (stdout and stderr)
	addr   string      // where it listens, from its readiness line
	exited chan struct{}
	// stdinStops: the child exits when its stdin closes.
	stdinStops bool

	mu   sync.Mutex
	tail []string // its last output lines, for error messages
}

// readyLine says whether an output line is a child's readiness signal,
// and the address it reports.
type readyLine func(line string) (addr string, ok bool)

// startTimeout bounds the wait for a child's readiness line.
const startTimeout = 60 * time.Second

// childSpec says how to run a child.
type childSpec struct {
	name       string
	path       string
	args       []string
	env        []string // added to the harness's environment
	ready      readyLine
	stdinStops bool // it exits when its stdin closes
}

// startChild runs a child and waits for the output line that says it
// listens. The child gets SIGKILL if the harness dies.
func startChild(ctx context.Context, spec childSpec) (*child, error) {
	name, ready := spec.name, spec.ready
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 4096), exited: make(chan struct{}),
		stdinStops: spec.stdinStops}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadecho: start %s: %w", name, err)
	}
	all := make(chan string)
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Go(func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				all <- sc.Text()
			}
		})
	}
	go func() {
		readers.Wait() // the pipes are read to their end before Wait closes them
		cmd.Wait()
		close(c.exited)
		close(all)
	}()
	readyc := make(chan string, 1)
	go func() {
		waiting := true
		for line := range all {
			c.remember(line)
			if waiting {
				if addr, ok := ready(line); ok {
					readyc <- addr
					waiting = false
				}
				continue
			}
			select {
			case c.lines <- line:
			default: // nobody is reading: the line is only kept in tail
			}
		}
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case c.addr = <-readyc:
		return c, nil
	case <-c.exited:
		err = fmt.Errorf("loadecho: %s exited before it was ready: %s", name, c.output())
	case <-timer.C:
		err = fmt.Errorf("loadecho: %s not ready after %v: %s", name, startTimeout, c.output())
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.stop()
	return nil, err
}

func (c *child) remember(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, line)
	if len(c.tail) > 20 {
		c.tail = c.tail[len(c.tail)-20:]
	}
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// pid is the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// cpu is the CPU time the child has used so far.
func (c *child) cpu() (time.Duration, error) { return processCPU(c.pid()) }

// request writes a line to the child's stdin and returns its first output
// line that starts with prefix.
func (c *child) request(ctx context.Context, line, prefix string) (string, error) {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return "", fmt.Errorf("loadecho: %s: %w", c.name, err)
	}
	for {
		select {
		case out := <-c.lines:
			if strings.HasPrefix(out, prefix) {
				return out, nil
			}
		case <-c.exited:
			return "", fmt.Errorf("loadecho: %s exited: %s", c.name, c.output())
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// stopTimeout is how long a child has to exit after its stdin closes
// (when that stops it) and again after SIGTERM, before SIGKILL.
const stopTimeout = 20 * time.Second

// stop closes the child's stdin and, unless that stopped it (the echo
// test child exits on it and then writes its CPU profile), sends SIGTERM;
// it waits for the child to exit.
func (c *child) stop() error {
	c.stdin.Close()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	if c.stdinStops {
		select {
		case <-c.exited:
		case <-timer.C:
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	timer.Reset(stopTimeout)
	select {
	case <-c.exited:
	case <-timer.C:
		c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("loadecho: %s did not exit after SIGTERM", c.name)
	}
	st := c.cmd.ProcessState
	if st.Success() {
		return nil
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
		return nil
	}
	return fmt.Errorf("loadecho: %s: %v: %s", c.name, st, c.output())
}
