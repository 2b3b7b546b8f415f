package oracle

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fpwork/fp/internal/syncbuf"
)

// syncTimeout bounds the wait for a probe connection to show in the
// capture file.
const syncTimeout = 30 * time.Second

// Sniffer is a running tshark capture of TCP on lo.
type Sniffer struct {
	// File is the pcapng file tshark writes.
	File   string
	probe  string // a listening TCP address among the captured ports
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{} // closed when tshark has exited
	err    error         // tshark's exit, valid once done is closed
	stop   sync.Once
}

// StartCapture starts tshark capturing TCP on lo to or from ports into
// dir/capture.pcapng, and returns once the capture runs: a connection to
// probe (a listening loopback address on one of the ports) shows in the
// file. Stop it with Stop.
func StartCapture(dir, probe string, ports ...string) (*Sniffer, error) {
	if err := CanCapture(); err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return nil, errors.New("oracle: capture: no port")
	}
	filter := make([]string, len(ports))
	for i, p := range ports {
		filter[i] = "tcp port " + p
	}
	s := &Sniffer{File: filepath.Join(dir, "capture.pcapng"), probe: probe, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("tshark", "-i", "lo", "-f", strings.Join(filter, " or "), "-B", "64", "-w", s.File, "-q")
	s.cmd.Stderr = s.stderr
	setDeathSignal(s.cmd)
	// The parent-death signal is tied to the thread that starts the child,
	// so one goroutine starts and waits for tshark on a thread of its own.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("oracle: starting tshark: %w", err)
	}
	if err := s.Sync(); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// Sync returns once everything sent on lo before it was called is in the
// capture file: it opens probe connections until one shows in the file
// (lo delivers in order, and tshark writes in order).
func (s *Sniffer) Sync() error {
	deadline := time.Now().Add(syncTimeout)
	var probes []string
	for {
		select {
		case <-s.done:
			return fmt.Errorf("oracle: tshark exited: %v: %s", s.err, s.stderr.String())
		default:
		}
		port, err := s.probeOnce()
		if err != nil {
			return err
		}
		probes = append(probes, "tcp.srcport == "+port)
		// A file still being written can end in a partial block: tshark
		// then complains, and prints the packets before it.
		out, _ := exec.Command("tshark", "-r", s.File, "-Y", strings.Join(probes, " || ")).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("oracle: tshark's capture shows none of %d probe connections to %s after %v: %s", len(probes), s.probe, syncTimeout, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // the capture has no event to wait on
	}
}

// probeOnce opens and closes a TCP connection to the probe address and
// returns its client port.
func (s *Sniffer) probeOnce() (string, error) {
	c, err := net.DialTimeout("tcp", s.probe, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("oracle: capture probe: %w", err)
	}
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	c.Close()
	return port, nil
}

// Stop waits until what was sent is captured (Sync), stops tshark and
// waits for it to exit, so File is complete. It may be called again; later
// calls return nil.
func (s *Sniffer) Stop() error {
	var err error
	s.stop.Do(func() {
		err = s.Sync()
		if ierr := s.cmd.Process.Signal(os.Interrupt); ierr != nil && err == nil {
			err = fmt.Errorf("oracle: stopping tshark: %w", ierr)
		}
		select {
		case <-s.done:
		case <-time.After(syncTimeout):
			s.kill()
			if err == nil {
				err = fmt.Errorf("oracle: tshark did not stop on SIGINT: %s", s.stderr.String())
			}
		}
	})
	return err
}

// kill ends tshark at once (an error path, or a Stop that hangs).
func (s *Sniffer) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}
