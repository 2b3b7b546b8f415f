package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/starfederation/datastar-go/datastar"

	"github.com/fpwork/fp/storage"
)

// Websocket subprotocols of the fp page's websocket context: the page
// offers both, the site picks the first.
const (
	ProtocolFPv1 = "fp.v1"
	ProtocolFPv2 = "fp.v2"
)

// siteJSON answers a site API request with v as JSON.
func siteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// contextAnswer is what a context request gets back.
type contextAnswer struct {
	Kind   ContextKind `json:"kind"`
	Stored bool        `json:"stored"`
	Report Report      `json:"report"`
}

// serveAPIContext records the fetch or XHR context: a JSON body of at
// most 16 KiB (for fetch, the JavaScript values: a JSON object).
func (s *Site) serveAPIContext(kind ContextKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, status, msg := s.visitParam(r, r.URL.Query().Get("visit"))
		if status != 0 {
			apiError(w, status, msg)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, siteMaxJSON))
		switch {
		case overBody(err):
			apiError(w, http.StatusRequestEntityTooLarge, "body over 16384 bytes")
			return
		case err != nil:
			apiError(w, http.StatusBadRequest, "unreadable body")
			return
		case !json.Valid(body):
			apiError(w, http.StatusBadRequest, "body: invalid JSON")
			return
		}
		var js []byte
		if kind == ContextFetch {
			if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
				apiError(w, http.StatusBadRequest, "body: want a JSON object of JavaScript values")
				return
			}
			var compact bytes.Buffer
			json.Compact(&compact, body)
			js = compact.Bytes()
		}
		c := s.record(r, v, kind, body, js, false)
		siteJSON(w, http.StatusOK, contextAnswer{Kind: kind, Stored: c.Stored, Report: c.Report})
	}
}

// serveWebsocket is the websocket context: the upgrade request recorded,
// then its report as the first message, then an echo of what the client
// sends, within the message limits, until it closes.
func (s *Site) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	v, status, msg := s.visitParam(r, r.URL.Query().Get("visit"))
	if status != 0 {
		apiError(w, status, msg)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		apiError(w, http.StatusBadRequest, "a websocket upgrade is expected here")
		return
	}
	c := s.record(r, v, ContextWebsocket, nil, nil, false)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{ProtocolFPv1, ProtocolFPv2}})
	if err != nil {
		return // Accept answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(s.cfg.MaxMessage)
	report, err := json.Marshal(contextAnswer{Kind: ContextWebsocket, Stored: c.Stored, Report: c.Report})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.IdleTimeout)
	err = conn.Write(ctx, websocket.MessageText, report)
	cancel()
	if err != nil {
		return
	}
	for range 100 { // a page sends one or two; a client wanting more opens the echo
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.IdleTimeout)
		typ, msg, err := conn.Read(ctx)
		if err == nil {
			err = conn.Write(ctx, typ, msg)
		}
		cancel()
		if err != nil {
			return
		}
	}
	conn.Close(websocket.StatusPolicyViolation, "message count limit")
}

// eventStreamLife bounds an event stream; the page's EventSource
// reconnects after it.
const eventStreamLife = 10 * time.Minute

// serveEvents streams the visit's report as it grows, in the Datastar
// protocol: the sections of the contexts seen (datastar-patch-elements)
// and the signals done and complete (datastar-patch-signals), all at
// first, then what each new context changes.
func (s *Site) serveEvents(w http.ResponseWriter, r *http.Request) {
	v, status, msg := s.visitParam(r, r.URL.Query().Get("visit"))
	if status != 0 {
		apiError(w, status, msg)
		return
	}
	wake, cancel, ok := s.visits.wait(v.ID)
	if !ok {
		apiError(w, http.StatusTooManyRequests, "too many event streams for this visit")
		return
	}
	defer cancel()
	s.streams.Add(1)
	defer s.streams.Done()
	sse := datastar.NewSSE(w, r)
	sent := map[ContextKind]int{} // contexts of each kind sent
	life := time.NewTimer(eventStreamLife)
	defer life.Stop()
	for first := true; ; first = false {
		if err := s.sendChanges(sse, &v, sent, first); err != nil {
			return
		}
		select {
		case _, open := <-wake:
			if !open {
				return // the visit was deleted or dropped
			}
		case <-life.C:
			return
		case <-s.cfg.Done:
			return
		case <-r.Context().Done():
			return
		}
		if v, ok = s.visits.get(v.ID); !ok {
			return
		}
	}
}

// sendChanges sends the sections of the kinds with contexts not yet sent
// and, when there were any (or on the first round), the progress line and
// the signals.
func (s *Site) sendChanges(sse *datastar.ServerSentEventGenerator, v *VisitSnapshot, sent map[ContextKind]int, first bool) error {
	changed := false
	for _, sv := range sections(v) {
		n := 0
		for _, c := range v.Contexts {
			if c.Kind == sv.Kind {
				n++
			}
		}
		if n == sent[sv.Kind] {
			continue
		}
		sent[sv.Kind], changed = n, true
		if err := s.patch(sse, "section", sv); err != nil {
			return err
		}
		if sv.Kind == ContextFetch && sv.Ctx != nil {
			if err := s.patch(sse, "js", jsValues(sv.Ctx.JS)); err != nil {
				return err
			}
		}
	}
	if !changed && !first {
		return nil
	}
	if err := s.patch(sse, "progress", progressOf(v)); err != nil {
		return err
	}
	signals, _ := json.Marshal(map[string]any{"done": doneList(v), "complete": v.Complete()})
	return sse.PatchSignals(signals)
}

// patch renders a template and sends it as a datastar-patch-elements.
func (s *Site) patch(sse *datastar.ServerSentEventGenerator, name string, data any) error {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.cfg.Log.Error("fp: template", "name", name, "err", err)
		return err
	}
	return sse.PatchElements(buf.String())
}

// serveAPIReport answers with the report of this request (not recorded).
func (s *Site) serveAPIReport(w http.ResponseWriter, r *http.Request) {
	rep := s.echo.Report(r)
	siteJSON(w, http.StatusOK, struct {
		Report    Report            `json:"report"`
		UserAgent storage.UserAgent `json:"user_agent"`
	}{rep, storage.ParseUserAgent(r.UserAgent())})
}

// visitAnswer is /api/visit's JSON.
type visitAnswer struct {
	Visit    storage.VisitID `json:"visit"`
	Live     bool            `json:"live"` // the site holds it (else: from the store)
	Consent  bool            `json:"consent"`
	Complete bool            `json:"complete"`
	Done     []ContextKind   `json:"done"`
	Contexts []VisitContext  `json:"contexts,omitempty"`
	// Stored lists the stored observations, for a visit no longer live.
	Stored []storedObservation `json:"stored,omitempty"`
}

// storedObservation is an observation as /api/visit shows it.
type storedObservation struct {
	Kind        storage.RequestKind     `json:"kind"`
	At          time.Time               `json:"at"`
	Retry       bool                    `json:"retry,omitempty"`
	HTTPVersion string                  `json:"http_version"`
	Method      string                  `json:"method"`
	Path        string                  `json:"path"`
	Headers     []storage.StoredHeader  `json:"headers"`
	UserAgent   storage.UserAgent       `json:"user_agent"`
	JA4H        string                  `json:"ja4h"`
	JS          json.RawMessage         `json:"js,omitempty"`
	Connection  storage.ConnectionID    `json:"connection"`
	TLS         *storedConnectionDerive `json:"tls,omitempty"`
}

type storedConnectionDerive struct {
	JA3    string `json:"ja3_hash"`
	JA4    string `json:"ja4"`
	Akamai string `json:"akamai,omitempty"`
}

// serveAPIVisit answers with a visit of this browser: the one named by
// the path or ?visit=, else the newest of its cookie.
func (s *Site) serveAPIVisit(w http.ResponseWriter, r *http.Request) {
	raw := chi.URLParam(r, "id")
	if raw == "" {
		raw = r.URL.Query().Get("visit")
	}
	if raw == "" {
		ids := visitIDsOf(r)
		if len(ids) == 0 {
			apiError(w, http.StatusNotFound, "this browser has no visit: open /report first")
			return
		}
		raw = string(ids[0])
	}
	v, status, msg := s.visitParam(r, raw)
	if status == http.StatusNotFound && s.cfg.Store != nil {
		if rec, err := s.cfg.Store.Visit(r.Context(), storage.VisitID(raw)); err == nil {
			siteJSON(w, http.StatusOK, storedAnswer(rec))
			return
		}
	}
	if status != 0 {
		apiError(w, status, msg)
		return
	}
	siteJSON(w, http.StatusOK, visitAnswer{Visit: v.ID, Live: true, Consent: v.Consent, Complete: v.Complete(),
		Done: v.Done(), Contexts: v.Contexts})
}

// storedAnswer is /api/visit's JSON of a visit read from the store.
func storedAnswer(rec *storage.VisitRecord) visitAnswer {
	a := visitAnswer{Visit: rec.Visit.ID, Consent: true}
	conns := map[storage.ConnectionID]*storage.Connection{}
	for i := range rec.Connections {
		conns[rec.Connections[i].ID] = &rec.Connections[i]
	}
	kinds := map[storage.RequestKind]bool{}
	for _, o := range rec.Observations {
		so := storedObservation{Kind: o.Kind, At: o.At, Retry: o.Retry, HTTPVersion: o.HTTPVersion, Method: o.Method,
			Path: o.Path, Headers: o.Headers, UserAgent: o.UserAgent, JA4H: o.Derived.JA4H, JS: o.JS, Connection: o.ConnectionID}
		if c := conns[o.ConnectionID]; c != nil {
			so.TLS = &storedConnectionDerive{JA3: c.Derived.TLS.JA3Hash, JA4: c.Derived.TLS.JA4, Akamai: c.Derived.Akamai}
		}
		a.Stored = append(a.Stored, so)
		kinds[o.Kind] = true
	}
	a.Complete = len(kinds) == len(storage.Kinds())
	return a
}

// serveAPIDelete deletes a visit of this browser: 204, or 400, 403, 404.
func (s *Site) serveAPIDelete(w http.ResponseWriter, r *http.Request) {
	if status, msg := s.deleteVisit(w, r, chi.URLParam(r, "id")); status != 0 {
		apiError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// searchAnswer is /api/search's JSON.
type searchAnswer struct {
	Kind         storage.FingerprintKind `json:"kind"`
	Hash         string                  `json:"hash"`
	Observations int                     `json:"observations"`
	FirstSeen    time.Time               `json:"first_seen"`
	LastSeen     time.Time               `json:"last_seen"`
	UserAgents   []storage.Count         `json:"user_agents"`
	Families     []storage.Count         `json:"families"`
	CoOccurring  []storage.KindCount     `json:"co_occurring"`
}

func (s *Site) serveAPISearch(w http.ResponseWriter, r *http.Request) {
	res, status, msg := s.search(r)
	switch {
	case status != 0:
		apiError(w, status, msg)
	case res == nil:
		apiError(w, http.StatusBadRequest, "kind and hash are required")
	default:
		siteJSON(w, http.StatusOK, searchAnswer{Kind: res.Kind, Hash: res.Hash, Observations: res.Observations,
			FirstSeen: res.FirstSeen, LastSeen: res.LastSeen, UserAgents: res.UserAgents, Families: res.Families,
			CoOccurring: res.CoOccurring})
	}
}

func (s *Site) serveAPIStats(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Store == nil {
		apiError(w, http.StatusServiceUnavailable, "no store")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	totals, err := s.cfg.Store.FamilyTotals(ctx)
	if err != nil {
		s.cfg.Log.Error("fp: statistics", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the dataset cannot be read now")
		return
	}
	siteJSON(w, http.StatusOK, struct {
		Families []storage.FamilyTotal `json:"families"`
	}{totals})
}
