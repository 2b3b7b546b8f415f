package web

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/fpwork/fp/storage"
)

// record builds the context of r (its report from the capture records,
// claimed before the handler ran), adds it to the live visit and, with
// consent, hands its observation to the writer. body is r's body, read
// by the caller within its limit; js the JavaScript values (fetch only).
func (s *Site) record(r *http.Request, v VisitSnapshot, kind ContextKind, body []byte, js []byte, retry bool) VisitContext {
	r.Body = io.NopCloser(bytes.NewReader(body))
	start := time.Now()
	rep, rec := s.echo.report(r)
	s.cfg.Metrics.observeReport(&rep, r.Proto, time.Since(start))
	c := VisitContext{Kind: kind, At: s.cfg.Now(), Retry: retry, Report: rep, JS: js}
	outcome := "not_stored"
	switch {
	case !v.Consent:
	case rec == nil:
		outcome = "unrecorded" // no capture record: the header order is unknown, so nothing is stored
	default:
		conn := s.connectionRow(r)
		if conn == nil {
			outcome = "unrecorded"
			break
		}
		id, err := storage.NewID(s.cfg.Random)
		if err != nil {
			s.cfg.Log.Error("fp: observation id", "err", err)
			outcome = "unrecorded"
			break
		}
		o := storage.Observation{ID: storage.ObservationID(id), VisitID: v.ID, ConnectionID: conn.ID, At: c.At,
			Kind: kind.StorageKind(), Retry: retry, HTTPVersion: storedVersion(r), Method: rec.Method, Path: r.URL.Path,
			Headers: storage.Redact(rec.Headers), UserAgent: storage.ParseUserAgent(r.UserAgent()),
			Derived: storage.DeriveRequest(rec), JS: js}
		b := &storage.Batch{Connections: []storage.Connection{*conn},
			Visits:       []storage.Visit{{ID: v.ID, Start: v.Start, Fleet: v.Fleet}},
			Observations: []storage.Observation{o}}
		if s.cfg.Writer != nil && s.cfg.Writer.Enqueue(b) {
			outcome, c.Stored = "stored", true
		} else {
			outcome = "dropped"
		}
	}
	s.counts.WithLabelValues(string(kind), outcome).Inc()
	if !s.visits.add(v.ID, c) {
		s.cfg.Log.Info("fp: visit full or gone; context not kept", "kind", kind)
	}
	return c
}

// storedVersion is the HTTP version as the store spells it: "HTTP/1.1",
// "HTTP/2", "HTTP/3" (net/http says "HTTP/2.0").
func storedVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "HTTP/2"
	case 3:
		return "HTTP/3"
	}
	return r.Proto
}
