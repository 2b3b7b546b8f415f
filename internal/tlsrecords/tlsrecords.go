// Package tlsrecords lets tests see what a peer sends: a connection that
// keeps what is read through it, and the lengths of the TLS records in
// those bytes.
package tlsrecords

import (
	"bytes"
	"fmt"
	"net"
	"sync"
)

// ReadLog is a net.Conn that keeps every byte read through it.
type ReadLog struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

// Read reads from the connection and keeps what it read.
func (r *ReadLog) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// Bytes returns a copy of what was read so far.
func (r *ReadLog) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got.Bytes())
}

// Lengths returns the payload length of each record read so far, in
// order; an error when the bytes end inside a record.
func (r *ReadLog) Lengths() ([]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	b := r.got.Bytes()
	for len(b) >= 5 {
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			return out, fmt.Errorf("tlsrecords: a record of %d bytes cut at %d", n, len(b)-5)
		}
		out = append(out, n)
		b = b[5+n:]
	}
	if len(b) > 0 {
		return out, fmt.Errorf("tlsrecords: %d bytes after the last record", len(b))
	}
	return out, nil
}
