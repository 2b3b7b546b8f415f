// Package oracle runs the independent tools the end-to-end tests hold the
// services against, tools that share no code with ours:
//
//   - tshark captures loopback traffic (StartCapture) and decodes it, TLS
//     decrypted with an NSS key log, into TCP connections: the JA3 of each
//     ClientHello, the HTTP/1 requests (header names in order) and the
//     HTTP/2 frames (SETTINGS, WINDOW_UPDATE, HEADERS with their header
//     lists in order) the client sent (Decode);
//   - the npm package read-tls-client-hello (scripts/oracle/ja4.js) computes
//     the JA4 of the ClientHello bytes tshark followed on the wire (JA4).
//
// A typical test:
//
//	snif, err := oracle.StartCapture(dir, serverAddr, port)
//	... clients talk to the server, which writes keylog ...
//	err = snif.Stop()
//	capture, err := oracle.Decode(snif.File, oracle.DecodeOptions{TLSPorts: []string{port}, KeyLog: keylog})
//	ja4, err := oracle.JA4(snif.File, capture.Conns)
//
// Capturing needs root (tshark on lo); Missing and CanCapture say what is
// lacking so a test can skip, or fail under CI.
package oracle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
)

// ErrMissing wraps every "a tool is not installed" error of Missing and
// CanCapture.
var ErrMissing = errors.New("oracle: missing")

// Missing reports the first oracle that is not installed: tshark, node,
// or the npm package read-tls-client-hello in scripts/oracle (npm ci
// there; scripts/install-deps.sh does both). It is nil when all are.
func Missing() error {
	for _, tool := range []string{"tshark", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not installed (scripts/install-deps.sh installs it)", ErrMissing, tool)
		}
	}
	dir, err := npmDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "read-tls-client-hello")); err != nil {
		return fmt.Errorf("%w: the npm oracle is not installed: run npm ci in %s (scripts/install-deps.sh does)", ErrMissing, dir)
	}
	return nil
}

// CanCapture reports why this process cannot capture on lo (it needs
// root), or nil.
func CanCapture() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: capturing on lo with tshark needs root", ErrMissing)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		return fmt.Errorf("%w: tshark is not installed (scripts/install-deps.sh installs it)", ErrMissing)
	}
	return nil
}

// npmDir finds scripts/oracle of this module, from the working directory
// up (tests run in their package's directory).
func npmDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("oracle: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "oracle"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory, so no scripts/oracle", ErrMissing)
		}
		dir = parent
	}
}

// DiffNames compares the oracle's list with ours and names the first
// difference; nil when they are equal.
func DiffNames(oracle, ours []string) error {
	if slices.Equal(oracle, ours) {
		return nil
	}
	i := 0
	for i < len(oracle) && i < len(ours) && oracle[i] == ours[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return strconv.Quote(l[i])
		}
		return "(end)"
	}
	return fmt.Errorf("first difference at #%d: tshark %s, ours %s\n  tshark %q\n  ours   %q", i, at(oracle), at(ours), oracle, ours)
}
