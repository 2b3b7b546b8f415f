package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/storage"
)

//go:embed templates/*.html
var siteTemplates embed.FS

//go:embed static/fp.js static/fp.css
var siteStatic embed.FS

// SiteConfig configures the fp website.
type SiteConfig struct {
	// Store answers the visit, search and statistics queries and deletes;
	// Writer stores the observations (asynchronously).
	Store  storage.Store
	Writer *storage.Writer
	// FleetSecret is FP_STORAGE_SECRET: a visit whose requests carry it in
	// the fleet cookie is the operator's own.
	FleetSecret string
	// H1Port returns the port of the listener offering only HTTP/1.1
	// ("": none); nil: none. It is known once the listeners are bound.
	H1Port func() string
	// Done ends the event streams (the server is shutting down).
	Done <-chan struct{}
	// MaxBody bounds the bodies of the API's and the form's requests.
	MaxBody int64
	// MaxMessage and IdleTimeout bound the websocket context.
	MaxMessage  int64
	IdleTimeout time.Duration
	Metrics     *Metrics
	Log         *slog.Logger
	Random      io.Reader
	Now         func() time.Time
}

// Site is the fp website: the consent page, the live report of every
// browser context, its JSON API, search and statistics.
type Site struct {
	cfg     SiteConfig
	echo    *Echo
	visits  *visitTable
	pages   *template.Template
	counts  *prometheus.CounterVec
	ready   http.HandlerFunc
	streams sync.WaitGroup
}

// Limits of the site.
const (
	siteMaxVisits      = 10000
	siteMaxContexts    = 64
	siteVisitTTL       = time.Hour
	siteMaxVisitCookie = 20
	siteMaxJSON        = 16 << 10
	retryWindow        = 30 * time.Second
	visitsCookie       = "fp_visits"
	consentCookie      = "fp_consent"
	contextHeader      = "X-Fp-Context"
)

// criticalHints are the client hints the report page asks for with
// Critical-CH: Chromium retries the navigation to send them.
func criticalHints() []string {
	return []string{"Sec-CH-UA-Full-Version-List", "Sec-CH-UA-Platform-Version", "Sec-CH-UA-Arch",
		"Sec-CH-UA-Bitness", "Sec-CH-UA-Model", "Sec-CH-UA-WoW64"}
}

// acceptedHints are those of Accept-CH.
func acceptedHints() []string { return append(criticalHints(), "Sec-CH-UA-Form-Factors") }

// NewSite builds the site.
func NewSite(cfg SiteConfig) (*Site, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 64 << 10
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	pages, err := template.New("").Funcs(siteFuncs()).ParseFS(siteTemplates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: site templates: %w", err)
	}
	s := &Site{cfg: cfg, echo: NewEcho(EchoLimits{MaxBody: siteMaxJSON}, nil),
		visits: newVisitTable(siteMaxVisits, siteMaxContexts, siteVisitTTL, cfg.Now), pages: pages}
	s.counts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fp_site_contexts_total",
		Help: "Browser contexts recorded, by kind and what became of them (stored, not_stored: no consent, unrecorded: no capture record, dropped: the writer's queue was full)."},
		[]string{"kind", "outcome"})
	if cfg.Metrics != nil {
		cfg.Metrics.registry.MustRegister(s.counts)
	}
	checks := []ReadinessCheck{}
	if cfg.Writer != nil {
		checks = append(checks, ReadinessCheck{Name: "database", State: cfg.Writer.State})
	}
	s.ready = Readiness(checks...)
	return s, nil
}

// RedirectToHTTPS answers the plain port: /healthz, and a permanent
// redirect of everything else to the same path on the HTTPS port (whose
// port httpsPort returns).
func RedirectToHTTPS(httpsPort func() string) http.Handler {
	return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprintln(w, "ok")
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		target := "https://" + net.JoinHostPort(strings.Trim(host, "[]"), httpsPort()) + r.URL.RequestURI()
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	}))
}

// Registerer is where the writer's metrics go, next to the service's.
func (m *Metrics) Registerer() prometheus.Registerer { return m.registry }

// Handler routes the site.
func (s *Site) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	r.Get("/readyz", s.ready)
	static, _ := fs.Sub(siteStatic, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", staticFiles(static)))
	r.Get("/", s.serveConsentPage)
	r.Post("/consent", s.serveConsent)
	r.Get("/report", s.serveReport)
	r.Post("/form", s.serveForm)
	r.Get("/form", s.serveForm)
	r.Post("/visit/delete", s.serveDeleteForm)
	r.Get("/search", s.serveSearchPage)
	r.Get("/stats", s.serveStatsPage)
	r.Route("/api", func(r chi.Router) {
		r.Post("/fetch", s.serveAPIContext(ContextFetch))
		r.Post("/xhr", s.serveAPIContext(ContextXHR))
		r.Get("/ws", s.serveWebsocket)
		r.Get("/events", s.serveEvents)
		r.Get("/report", s.serveAPIReport)
		r.Get("/visit", s.serveAPIVisit)
		r.Get("/visit/{id}", s.serveAPIVisit)
		r.Delete("/visit/{id}", s.serveAPIDelete)
		r.Get("/search", s.serveAPISearch)
		r.Get("/stats", s.serveAPIStats)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusNotFound, "no such API endpoint")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			apiError(w, http.StatusMethodNotAllowed, "method not allowed")
		})
	})
	return r
}

// Wait waits for the event streams to end (they end with their request's
// context, when the server shuts down).
func (s *Site) Wait() { s.streams.Wait() }

// contentSecurityPolicy allows what the page uses: its own script, style
// and connections (fetch, XHR, websocket, events), forms to itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every answer of the site carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "interest-cohort=()")
		next.ServeHTTP(w, r)
	})
}

// staticFiles serves the embedded script and stylesheet, revalidated.
func staticFiles(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// apiError answers an API request with a status and {"error": msg}.
func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Write(append(b, '\n'))
}

// pageError answers a page request with a status and a text.
func pageError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

// overBody reports whether err is http.MaxBytesReader's.
func overBody(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// secure reports whether r came over TLS (net/http leaves r.TLS nil on
// capture's TLS listener).
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	pc, ok := capture.PlainFromContext(r.Context())
	return ok && pc.TLS() != nil
}

// visitIDsOf returns the visit ids of r's fp_visits cookie, newest first.
func visitIDsOf(r *http.Request) []storage.VisitID {
	c, err := r.Cookie(visitsCookie)
	if err != nil {
		return nil
	}
	var out []storage.VisitID
	for _, part := range strings.Split(c.Value, ".") {
		if id, err := storage.ParseID(part); err == nil && len(out) < siteMaxVisitCookie {
			out = append(out, storage.VisitID(id))
		}
	}
	return out
}

// ownsVisit reports whether r's cookie lists id.
func ownsVisit(r *http.Request, id storage.VisitID) bool {
	for _, v := range visitIDsOf(r) {
		if v == id {
			return true
		}
	}
	return false
}

// setVisitsCookie sets fp_visits to ids (newest first, at most 20).
func setVisitsCookie(w http.ResponseWriter, r *http.Request, ids []storage.VisitID) {
	if len(ids) > siteMaxVisitCookie {
		ids = ids[:siteMaxVisitCookie]
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = string(id)
	}
	c := &http.Cookie{Name: visitsCookie, Value: strings.Join(parts, "."), Path: "/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteLaxMode}
	if len(ids) == 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// consented reports whether r carries the consent cookie.
func consented(r *http.Request) bool {
	c, err := r.Cookie(consentCookie)
	return err == nil && c.Value == "yes"
}

// setConsentCookie sets (or, when give is false, clears) the consent.
func setConsentCookie(w http.ResponseWriter, r *http.Request, give bool) {
	c := &http.Cookie{Name: consentCookie, Value: "yes", Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteLaxMode}
	if !give {
		c.Value, c.MaxAge = "", -1
	}
	http.SetCookie(w, c)
}

// isFleet reports whether r carries the operator's fleet cookie.
func (s *Site) isFleet(r *http.Request) bool {
	c, err := r.Cookie(storage.FleetCookie)
	return err == nil && storage.IsFleet(c.Value, s.cfg.FleetSecret)
}

// visitParam reads the visit a context request names (?visit=ID) and
// checks that it is one of this browser's: 400 when malformed, 403 when
// not in fp_visits, 404 when the site no longer holds it.
func (s *Site) visitParam(r *http.Request, raw string) (VisitSnapshot, int, string) {
	id, err := storage.ParseID(raw)
	if err != nil {
		return VisitSnapshot{}, http.StatusBadRequest, "malformed visit id: want 32 lowercase hex digits"
	}
	if !ownsVisit(r, storage.VisitID(id)) {
		return VisitSnapshot{}, http.StatusForbidden, "this visit is not one of this browser's"
	}
	v, ok := s.visits.get(storage.VisitID(id))
	if !ok {
		return VisitSnapshot{}, http.StatusNotFound, "no such visit (it ended or was deleted): open /report again"
	}
	return v, 0, ""
}

// siteConnKey is the context key of a connection's storage row.
type siteConnKey struct{}

// siteConn is what the site keeps of a connection: its storage row, built
// by the first context stored from it.
type siteConn struct {
	once sync.Once
	row  *storage.Connection
}

// ConnContext gives each connection a place for its storage row; it goes
// after capture.ConnContext in the server's ConnContext.
func (s *Site) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, siteConnKey{}, &siteConn{})
}

// connectionRow returns the storage row of r's connection, built once.
func (s *Site) connectionRow(r *http.Request) *storage.Connection {
	sc, ok := r.Context().Value(siteConnKey{}).(*siteConn)
	pc, ok2 := capture.PlainFromContext(r.Context())
	if !ok || !ok2 {
		return nil
	}
	sc.once.Do(func() {
		id, err := storage.NewID(s.cfg.Random)
		if err != nil {
			s.cfg.Log.Error("fp: connection id", "err", err)
			return
		}
		row := &storage.Connection{ID: storage.ConnectionID(id), At: s.cfg.Now(), Transport: fingerprint.TransportTCP}
		if state := pc.TLS(); state != nil {
			row.ALPN, row.TLSVersion, row.CipherSuite = state.NegotiatedProtocol, state.Version, state.CipherSuite
			if row.ALPN == "" {
				row.ALPN = "http/1.1"
			}
			if _, raw, err := pc.Hello().ClientHello(); err == nil {
				if redacted, err := fingerprint.RedactPSK(raw); err == nil {
					row.Hello = redacted
				}
			}
		}
		if row.Hello == nil {
			return // only TLS connections are stored
		}
		if raw, pseudo, ok := pc.HTTP2Preface(); ok {
			row.HTTP2Preface, row.PseudoHeaderOrder = raw, pseudo
		}
		derived, err := storage.DeriveConnection(row)
		if err != nil {
			s.cfg.Log.Info("fp: connection fingerprints", "err", err)
		}
		row.Derived = derived
		sc.row = row
	})
	return sc.row
}
