package analyze

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// KeyLog holds TLS secrets from an NSS key log file (the SSLKEYLOGFILE
// format browsers, curl and Go's KeyLogWriter write), by client random.
type KeyLog struct {
	sessions map[[32]byte]*sessionSecrets
}

// sessionSecrets are the secrets decryption of the client's records uses.
type sessionSecrets struct {
	master    []byte // CLIENT_RANDOM: the TLS 1.2 master secret
	clientApp []byte // CLIENT_TRAFFIC_SECRET_0 (TLS 1.3)
}

// Key log limits: a line longer than this, or more sessions, is an error.
const (
	maxKeyLogLine     = 1024
	maxKeyLogSessions = 1 << 20
)

// ParseKeyLog reads a key log. Comments, blank lines and labels it does
// not use are skipped; a malformed line is an error naming the line.
func ParseKeyLog(r io.Reader) (*KeyLog, error) {
	kl := NewKeyLog()
	if err := kl.add(r); err != nil {
		return nil, err
	}
	return kl, nil
}

// NewKeyLog returns an empty key log.
func NewKeyLog() *KeyLog { return &KeyLog{sessions: map[[32]byte]*sessionSecrets{}} }

// add reads key log lines into kl.
func (kl *KeyLog) add(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxKeyLogLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return fmt.Errorf("analyze: key log line %d: want LABEL CLIENT_RANDOM SECRET", line)
		}
		var dst *[]byte
		cr, err := hex.DecodeString(fields[1])
		secret, err2 := hex.DecodeString(fields[2])
		if err != nil || err2 != nil || len(cr) != 32 || len(secret) == 0 || len(secret) > 64 {
			return fmt.Errorf("analyze: key log line %d: bad client random or secret", line)
		}
		var key [32]byte
		copy(key[:], cr)
		s := kl.sessions[key]
		if s == nil {
			if len(kl.sessions) >= maxKeyLogSessions {
				return fmt.Errorf("analyze: key log: more than %d sessions", maxKeyLogSessions)
			}
			s = &sessionSecrets{}
			kl.sessions[key] = s
		}
		switch fields[0] {
		case "CLIENT_RANDOM":
			dst = &s.master
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &s.clientApp
		default:
			continue
		}
		*dst = secret
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("analyze: key log line %d: %w", line+1, err)
	}
	return nil
}

// lookup returns the secrets of a session, or nil.
func (kl *KeyLog) lookup(clientRandom []byte) *sessionSecrets {
	if kl == nil || len(clientRandom) != 32 {
		return nil
	}
	var key [32]byte
	copy(key[:], clientRandom)
	return kl.sessions[key]
}
