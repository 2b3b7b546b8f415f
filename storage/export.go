package storage

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/fpwork/fp/fingerprint"
)

// The export format, shared by every Store: a header line, then one line
// per visit. Visit ids are left out: they let whoever holds one delete the
// visit. Header values that are not UTF-8 come out with U+FFFD in place of
// the bad bytes (JSON strings are UTF-8).

// exportHeader is the first line of an export.
type exportHeader struct {
	Dataset          string `json:"dataset"`
	Licence          string `json:"licence"`
	LicenceURL       string `json:"licence_url"`
	Format           string `json:"format"`
	AlgorithmVersion int    `json:"algorithm_version"`
	Fleet            bool   `json:"fleet"` // whether the operator's fleet visits are included
}

func newExportHeader(withFleet bool) exportHeader {
	return exportHeader{
		Dataset: "fp: TLS ClientHellos, HTTP/2 prefaces and HTTP requests of consented browser visits, " +
			"with their fingerprints",
		Licence:    "CC-BY-4.0",
		LicenceURL: "https://creativecommons.org/licenses/by/4.0/",
		Format: "JSON lines: this header, then one visit per line with its observations (requests, headers in " +
			"wire order, identifying values redacted) and the connections they came on (hello and HTTP/2 " +
			"preface in base64); fingerprints are those of algorithm_version",
		AlgorithmVersion: fingerprint.AlgorithmVersion,
		Fleet:            withFleet,
	}
}

// exportVisit is one line of an export after the header.
type exportVisit struct {
	Start        time.Time           `json:"start"`
	Fleet        bool                `json:"fleet"`
	Observations []exportObservation `json:"observations"`
	Connections  []exportConnection  `json:"connections"`
}

type exportConnection struct {
	ID                ConnectionID                `json:"id"`
	At                time.Time                   `json:"at"`
	Transport         string                      `json:"transport"` // "tcp" or "quic"
	ALPN              string                      `json:"alpn"`
	TLSVersion        uint16                      `json:"tls_version"`
	CipherSuite       uint16                      `json:"cipher_suite"`
	Hello             []byte                      `json:"hello"`
	HTTP2Preface      []byte                      `json:"http2_preface,omitempty"`
	PseudoHeaderOrder []string                    `json:"pseudo_header_order,omitempty"`
	AlgorithmVersion  int                         `json:"algorithm_version"`
	TLS               fingerprint.TLSFingerprints `json:"tls"`
	Akamai            string                      `json:"akamai,omitempty"`
	AkamaiHash        string                      `json:"akamai_hash,omitempty"`
}

type exportObservation struct {
	ID               ObservationID   `json:"id"`
	ConnectionID     ConnectionID    `json:"connection_id"`
	At               time.Time       `json:"at"`
	Kind             RequestKind     `json:"kind"`
	Retry            bool            `json:"retry,omitempty"`
	HTTPVersion      string          `json:"http_version"`
	Method           string          `json:"method"`
	Path             string          `json:"path"`
	Headers          []StoredHeader  `json:"headers"`
	UserAgent        UserAgent       `json:"user_agent"`
	JS               json.RawMessage `json:"js,omitempty"`
	AlgorithmVersion int             `json:"algorithm_version"`
	JA4H             string          `json:"ja4h"`
	JA4HR            string          `json:"ja4h_r"`
	JA4HRO           string          `json:"ja4h_ro"`
}

func transportName(t fingerprint.Transport) string {
	switch t {
	case fingerprint.TransportTCP:
		return "tcp"
	case fingerprint.TransportQUIC:
		return "quic"
	case fingerprint.TransportDTLS:
		return "dtls"
	}
	return fmt.Sprintf("UNKNOWN_%d", t)
}

func newExportVisit(r *VisitRecord) exportVisit {
	v := exportVisit{
		Start:        r.Visit.Start.UTC(),
		Fleet:        r.Visit.Fleet,
		Observations: make([]exportObservation, len(r.Observations)),
		Connections:  make([]exportConnection, len(r.Connections)),
	}
	for i, o := range r.Observations {
		v.Observations[i] = exportObservation{
			ID: o.ID, ConnectionID: o.ConnectionID, At: o.At.UTC(), Kind: o.Kind, Retry: o.Retry,
			HTTPVersion: o.HTTPVersion, Method: o.Method, Path: o.Path, Headers: o.Headers,
			UserAgent: o.UserAgent, JS: o.JS, AlgorithmVersion: o.Derived.Version,
			JA4H: o.Derived.JA4H, JA4HR: o.Derived.JA4HR, JA4HRO: o.Derived.JA4HRO,
		}
	}
	for i, c := range r.Connections {
		v.Connections[i] = exportConnection{
			ID: c.ID, At: c.At.UTC(), Transport: transportName(c.Transport), ALPN: c.ALPN,
			TLSVersion: c.TLSVersion, CipherSuite: c.CipherSuite, Hello: c.Hello,
			HTTP2Preface: c.HTTP2Preface, PseudoHeaderOrder: c.PseudoHeaderOrder,
			AlgorithmVersion: c.Derived.Version, TLS: c.Derived.TLS,
			Akamai: c.Derived.Akamai, AkamaiHash: c.Derived.AkamaiHash,
		}
	}
	return v
}

// exportWriter writes an export; every Store's Export goes through it so
// that the format is one.
type exportWriter struct {
	enc *json.Encoder
}

// newExportWriter writes the header line to w.
func newExportWriter(w io.Writer, withFleet bool) (*exportWriter, error) {
	e := &exportWriter{enc: json.NewEncoder(w)}
	e.enc.SetEscapeHTML(false)
	if err := e.enc.Encode(newExportHeader(withFleet)); err != nil {
		return nil, fmt.Errorf("storage: export: %w", err)
	}
	return e, nil
}

// visit writes one visit line. Callers pass the visits in Start order
// (ties by visit id), the fleet's left out unless asked for.
func (e *exportWriter) visit(r *VisitRecord) error {
	if err := e.enc.Encode(newExportVisit(r)); err != nil {
		return fmt.Errorf("storage: export: %w", err)
	}
	return nil
}
