package storage

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/fpwork/fp/fingerprint"
)

// ID is the form of every identifier: 16 random bytes in lowercase hex.
// Visit ids are handed to visitors (to delete their visit), so they must
// not be guessable.
type ID string

// VisitID, ConnectionID and ObservationID name a visit, a TLS (or QUIC)
// connection, and one observed request.
type (
	VisitID       ID
	ConnectionID  ID
	ObservationID ID
)

// NewID returns a new random ID read from random (crypto/rand.Reader in
// production).
func NewID(random io.Reader) (ID, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("storage: new id: %w", err)
	}
	return ID(hex.EncodeToString(b[:])), nil
}

// ParseID checks that s has the form of an ID (it may still name nothing).
func ParseID(s string) (ID, error) {
	if len(s) != 32 {
		return "", fmt.Errorf("storage: id %q: want 32 hex digits: %w", s, ErrBadID)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("storage: id %q: want 32 lowercase hex digits: %w", s, ErrBadID)
		}
	}
	return ID(s), nil
}

// RequestKind is the browser context a request was made in.
type RequestKind string

// The request contexts a visit records.
const (
	KindNavigate  RequestKind = "navigate"
	KindFetch     RequestKind = "fetch"
	KindXHR       RequestKind = "xhr"
	KindForm      RequestKind = "form"
	KindWebsocket RequestKind = "websocket"
)

// Kinds lists every RequestKind; a visit with an observation of each is
// complete.
func Kinds() []RequestKind {
	return []RequestKind{KindNavigate, KindFetch, KindXHR, KindForm, KindWebsocket}
}

// Valid reports whether k is one of Kinds.
func (k RequestKind) Valid() bool {
	for _, x := range Kinds() {
		if k == x {
			return true
		}
	}
	return false
}

// Connection is one client connection: its ClientHello stored once, its
// HTTP/2 preface, and the fingerprints derived from them.
type Connection struct {
	ID        ConnectionID
	At        time.Time
	Transport fingerprint.Transport // TCP or QUIC
	// ALPN is the negotiated protocol ("h2", "http/1.1", "h3", "" for none).
	ALPN string
	// TLSVersion and CipherSuite are the negotiated ones.
	TLSVersion  uint16
	CipherSuite uint16
	// Hello is the ClientHello as received: its TLS records (TCP) or the
	// handshake message (QUIC), with PSK identities and binders zeroed.
	Hello []byte
	// HTTP2Preface is what the client sent on an HTTP/2 connection before
	// its first HEADERS frame (connection preface, SETTINGS,
	// WINDOW_UPDATE, PRIORITY frames), raw; nil otherwise.
	HTTP2Preface []byte
	// PseudoHeaderOrder is that of the first HEADERS frame (HTTP/2), which
	// the Akamai fingerprint needs and the preface does not hold.
	PseudoHeaderOrder []string
	// Derived holds the fingerprints computed from the fields above.
	Derived ConnectionFingerprints
}

// ConnectionFingerprints are the derived values of a connection, stamped
// with the algorithm version that computed them.
type ConnectionFingerprints struct {
	Version    int // fingerprint.AlgorithmVersion when computed
	TLS        fingerprint.TLSFingerprints
	Akamai     string // HTTP/2 connections only
	AkamaiHash string
}

// Visit groups the observations of one browser visit.
type Visit struct {
	ID    VisitID
	Start time.Time
	// Fleet marks a visit from the operator's own device fleet (it carried
	// the secret cookie); the public's visits have it false.
	Fleet bool
}

// Observation is one request in one browser context.
type Observation struct {
	ID           ObservationID
	VisitID      VisitID
	ConnectionID ConnectionID
	At           time.Time
	Kind         RequestKind
	// Retry marks a navigation repeated because of Critical-CH.
	Retry       bool
	HTTPVersion string // "HTTP/1.1", "HTTP/2", "HTTP/3"
	Method      string
	Path        string // the request path, without the query
	// Headers in wire order and original case (HTTP/2: pseudo-headers
	// included), with identifying values redacted (Redact).
	Headers   []StoredHeader
	UserAgent UserAgent
	// JS holds the JavaScript values the page's script reported (a JSON
	// object), nil when none.
	JS      json.RawMessage
	Derived ObservationFingerprints
}

// ObservationFingerprints are the derived values of a request, stamped
// with the algorithm version; JA4H is computed from the unredacted
// request before it is stored.
type ObservationFingerprints struct {
	Version int
	JA4H    string
	JA4HR   string
	JA4HRO  string
}

// StoredHeader is one header as stored: a redacted value is replaced by
// "" with its length kept.
type StoredHeader struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Redacted bool   `json:"redacted,omitempty"`
	Length   int    `json:"length"` // of the value as sent
}

// UserAgent is the User-Agent header and what it parses to.
type UserAgent struct {
	Raw            string `json:"raw"`
	Browser        string `json:"browser"` // family: Chrome, Firefox, Safari, Edge, ...
	BrowserVersion string `json:"browser_version"`
	OS             string `json:"os"`
	Device         string `json:"device"` // desktop, mobile, tablet, bot, unknown
}

// Batch is what one write stores: rows whose ID is already stored are
// skipped, so a batch may be written again after an error.
type Batch struct {
	Connections  []Connection
	Visits       []Visit
	Observations []Observation
}

// Len counts the rows of b.
func (b *Batch) Len() int { return len(b.Connections) + len(b.Visits) + len(b.Observations) }
