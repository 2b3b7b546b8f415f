package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fpwork/fp/storage"
)

// siteFuncs are the templates' functions.
func siteFuncs() template.FuncMap {
	return template.FuncMap{
		"inc":  func(i int) int { return i + 1 },
		"join": strings.Join,
		"hex4": func(v uint16) string { return fmt.Sprintf("0x%04x", v) },
		"json": func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				return err.Error()
			}
			return string(b)
		},
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}
}

// render executes page into a buffer first, so a template error is a 500
// and not half a page.
func (s *Site) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, page, data); err != nil {
		s.cfg.Log.Error("fp: template", "page", page, "err", err)
		pageError(w, http.StatusInternalServerError, "the page could not be built")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// sameOrigin refuses a state-changing form from another site. A browser
// says where a request comes from in Sec-Fetch-Site (which a page cannot
// set): only "same-origin" passes. Without it, Origin must name this host;
// under the site's no-referrer policy Chromium sends "Origin: null" on its
// own forms, which Sec-Fetch-Site covers. A request with neither (curl) is
// let through: no browser sent it on another site's behalf.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (s *Site) serveConsentPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "consent", struct{ Consent, Deleted bool }{consented(r), r.URL.Query().Get("deleted") == "1"})
}

// serveConsent sets or clears the consent cookie from the consent form.
func (s *Site) serveConsent(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		pageError(w, http.StatusForbidden, "consent must be given on this site's own page")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, siteMaxJSON)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if overBody(err) {
			status = http.StatusRequestEntityTooLarge
		}
		pageError(w, status, "unreadable form")
		return
	}
	switch r.PostForm.Get("choice") {
	case "store":
		setConsentCookie(w, r, true)
	case "withdraw":
		setConsentCookie(w, r, false)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	case "view":
	default:
		pageError(w, http.StatusBadRequest, "choice must be store, view or withdraw")
		return
	}
	next := r.PostForm.Get("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		next = "/report"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// hasCriticalHints reports whether r carries the client hints the report
// asks for with Critical-CH (then it is no first navigation to retry).
func hasCriticalHints(r *http.Request) bool {
	return r.Header.Get(criticalHints()[0]) != ""
}

// serveReport is the navigation context: a new visit (or, for Chromium's
// Critical-CH retry, the visit it repeats), its navigation recorded, and
// the report page. With ?visit=ID it shows a visit of this browser
// without recording anything (where the forms lead back).
func (s *Site) serveReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	auto := q.Get("auto") == "1"
	if raw := q.Get("visit"); raw != "" {
		v, status, msg := s.visitParam(r, raw)
		if status != 0 {
			pageError(w, status, msg)
			return
		}
		s.renderReport(w, r, v, auto)
		return
	}
	consent := consented(r)
	if q.Get("consent") == "yes" {
		consent = true
		setConsentCookie(w, r, true)
	}
	hinted := hasCriticalHints(r)
	ids := visitIDsOf(r)
	retry := hinted && len(ids) > 0 && s.visits.retryOf(ids[0], retryWindow)
	var id storage.VisitID
	if retry {
		id = ids[0]
	} else {
		newID, err := storage.NewID(s.cfg.Random)
		if err != nil {
			s.cfg.Log.Error("fp: visit id", "err", err)
			pageError(w, http.StatusInternalServerError, "no visit id")
			return
		}
		id = storage.VisitID(newID)
		s.visits.create(id, consent, s.isFleet(r), !hinted)
		ids = append([]storage.VisitID{id}, slices.DeleteFunc(ids, func(x storage.VisitID) bool { return x == id })...)
		setVisitsCookie(w, r, ids)
	}
	v, ok := s.visits.get(id)
	if !ok {
		pageError(w, http.StatusServiceUnavailable, "the visit was dropped at once: the site is overloaded")
		return
	}
	s.record(r, v, ContextNavigate, nil, nil, retry)
	v, _ = s.visits.get(id)
	h := w.Header()
	h.Set("Accept-CH", strings.Join(acceptedHints(), ", "))
	h.Set("Critical-CH", strings.Join(criticalHints(), ", "))
	h.Set("Vary", strings.Join(criticalHints(), ", "))
	s.renderReport(w, r, v, auto)
}

// reportPage is the report template's data.
type reportPage struct {
	Visit       VisitSnapshot
	Auto        bool
	Complete    bool
	DoneList    string
	DoneText    string
	Nav         *VisitContext
	Navigations string
	UA          storage.UserAgent
	Consistency []consistencyLine
	H1Link      string
	Sections    []sectionView
	JS          []jsValue
}

// sectionView is one context's section.
type sectionView struct {
	Kind    ContextKind
	Title   string
	Ctx     *VisitContext
	Waiting string
}

func contextTitle(k ContextKind) (title, waiting string) {
	switch k {
	case ContextNavigate:
		return "Navigation", ""
	case ContextFetch:
		return "fetch() POST", "Sent by the page's script (needs JavaScript)."
	case ContextXHR:
		return "XMLHttpRequest POST", "Sent by the page's script (needs JavaScript)."
	case ContextWebsocket:
		return "WebSocket", "Opened by the page's script (needs JavaScript)."
	case ContextFormPost:
		return "Form, POST", "Submit the POST form below."
	case ContextFormGet:
		return "Form, GET", "Submit the GET form below."
	}
	return string(k), ""
}

// sections lists the section of every context kind, with its latest
// context when seen.
func sections(v *VisitSnapshot) []sectionView {
	var out []sectionView
	for _, k := range ContextKinds() {
		sv := sectionView{Kind: k}
		sv.Title, sv.Waiting = contextTitle(k)
		if c, ok := v.Latest(k); ok {
			sv.Ctx = &c
		}
		out = append(out, sv)
	}
	return out
}

// progressView is the progress line's data.
type progressView struct {
	Complete bool
	DoneText string
}

func doneList(v *VisitSnapshot) string {
	var parts []string
	for _, k := range v.Done() {
		parts = append(parts, string(k))
	}
	return strings.Join(parts, " ")
}

func progressOf(v *VisitSnapshot) progressView {
	text := strings.ReplaceAll(doneList(v), " ", ", ")
	return progressView{Complete: v.Complete(), DoneText: text}
}

func (s *Site) renderReport(w http.ResponseWriter, r *http.Request, v VisitSnapshot, auto bool) {
	p := reportPage{Visit: v, Auto: auto, Complete: v.Complete(), DoneList: doneList(&v), Sections: sections(&v)}
	p.DoneText = progressOf(&v).DoneText
	if nav, ok := v.Latest(ContextNavigate); ok {
		p.Nav = &nav
		p.UA = storage.ParseUserAgent(headerValue(nav.Report.HTTP.Headers, "user-agent"))
		p.Consistency = s.consistency(r.Context(), p.UA, &nav.Report.Fingerprints)
		n := 0
		for _, c := range v.Contexts {
			if c.Kind == ContextNavigate {
				n++
			}
		}
		if n > 1 {
			p.Navigations = fmt.Sprintf("%d: the first without the client hints the page asks for, repeated by the browser for Critical-CH", n)
		}
	}
	if fetch, ok := v.Latest(ContextFetch); ok {
		p.JS = jsValues(fetch.JS)
	}
	if port := s.h1Port(); port != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		p.H1Link = "https://" + net.JoinHostPort(strings.Trim(host, "[]"), port) + "/report"
	}
	s.render(w, http.StatusOK, "report", p)
}

func (s *Site) h1Port() string {
	if s.cfg.H1Port == nil {
		return ""
	}
	return s.cfg.H1Port()
}

// headerValue is the first value of header name (case-insensitive).
func headerValue(hs [][2]string, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// jsValue is one of the JavaScript values, for display.
type jsValue struct{ Name, Value string }

// jsValues lists the top-level members of the JavaScript values object,
// sorted by name, nested ones as JSON.
func jsValues(js json.RawMessage) []jsValue {
	var m map[string]json.RawMessage
	if json.Unmarshal(js, &m) != nil {
		return nil
	}
	out := make([]jsValue, 0, len(m))
	for k, v := range m {
		out = append(out, jsValue{Name: k, Value: string(v)})
	}
	slices.SortFunc(out, func(a, b jsValue) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// consistencyLine says whether one fingerprint fits the claimed browser.
type consistencyLine struct {
	Name, Text, Class string
}

// consistency compares the connection's fingerprints with what the store
// saw with them: a fingerprint seen with the browser family the
// User-Agent claims is consistent; one seen only with other families is
// not; one never seen is unknown.
func (s *Site) consistency(ctx context.Context, ua storage.UserAgent, fps *Fingerprints) []consistencyLine {
	if s.cfg.Store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	checks := []struct {
		name  string
		kind  storage.FingerprintKind
		value string
	}{{"JA4", storage.SearchJA4, fps.JA4}, {"Akamai HTTP/2", storage.SearchAkamai, fps.AkamaiHash}, {"PeetPrint", storage.SearchPeetPrint, fps.PeetPrintHash}}
	var out []consistencyLine
	for _, c := range checks {
		if c.value == "" {
			continue
		}
		res, err := s.cfg.Store.Search(ctx, c.kind, c.value)
		switch {
		case errors.Is(err, storage.ErrNotFound) || (err == nil && res.Observations == 0):
			out = append(out, consistencyLine{c.name, "not seen before in the dataset", "unknown"})
			continue
		case err != nil:
			out = append(out, consistencyLine{c.name, "the dataset cannot be read now", "unknown"})
			continue
		}
		var seenWith []string
		claimed := 0
		for _, f := range res.Families {
			if f.Value == ua.Browser {
				claimed = f.Count
			}
			seenWith = append(seenWith, fmt.Sprintf("%s (%d)", f.Value, f.Count))
		}
		if claimed > 0 {
			out = append(out, consistencyLine{c.name, fmt.Sprintf("consistent with %s: seen %d times with it; all: %s",
				ua.Browser, claimed, strings.Join(seenWith, ", ")), "consistent"})
		} else {
			out = append(out, consistencyLine{c.name, fmt.Sprintf("not seen with %s, the browser the User-Agent claims; seen with %s",
				ua.Browser, strings.Join(seenWith, ", ")), "inconsistent"})
		}
	}
	return out
}

// serveForm is the form context, POST or GET: recorded, then back to the
// report (303).
func (s *Site) serveForm(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, siteMaxJSON))
	if err != nil {
		status := http.StatusBadRequest
		if overBody(err) {
			status = http.StatusRequestEntityTooLarge
		}
		pageError(w, status, "unreadable form body")
		return
	}
	fields := r.URL.Query()
	kind := ContextFormGet
	if r.Method == http.MethodPost {
		kind = ContextFormPost
		if fields, err = url.ParseQuery(string(body)); err != nil {
			pageError(w, http.StatusBadRequest, "the form body is not application/x-www-form-urlencoded")
			return
		}
	}
	v, status, msg := s.visitParam(r, r.URL.Query().Get("visit"))
	if status != 0 {
		pageError(w, status, msg)
		return
	}
	s.record(r, v, kind, body, nil, false)
	next := "/report?visit=" + string(v.ID)
	if fields.Get("auto") == "1" {
		next += "&auto=1"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// serveDeleteForm deletes a visit from its report's button.
func (s *Site) serveDeleteForm(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		pageError(w, http.StatusForbidden, "a visit is deleted from this site's own page")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, siteMaxJSON)
	if err := r.ParseForm(); err != nil {
		pageError(w, http.StatusBadRequest, "unreadable form")
		return
	}
	if status, msg := s.deleteVisit(w, r, r.PostForm.Get("id")); status != 0 {
		pageError(w, status, msg)
		return
	}
	http.Redirect(w, r, "/?deleted=1", http.StatusSeeOther)
}

// deleteVisit deletes visit raw of this browser: from the writer's queue
// (and what it would write later), from the store, and from the live
// table. It returns a status and message when it refuses.
func (s *Site) deleteVisit(w http.ResponseWriter, r *http.Request, raw string) (int, string) {
	parsed, err := storage.ParseID(raw)
	if err != nil {
		return http.StatusBadRequest, "malformed visit id: want 32 lowercase hex digits"
	}
	id := storage.VisitID(parsed)
	if !ownsVisit(r, id) {
		return http.StatusForbidden, "this visit is not one of this browser's"
	}
	live := s.visits.remove(id)
	if s.cfg.Writer != nil {
		s.cfg.Writer.Withdraw(id)
	}
	stored := false
	if s.cfg.Store != nil {
		err := s.cfg.Store.DeleteVisit(r.Context(), id)
		switch {
		case err == nil:
			stored = true
		case errors.Is(err, storage.ErrNotFound):
		default:
			s.cfg.Log.Error("fp: delete visit", "err", err)
			return http.StatusServiceUnavailable, "the database cannot delete now; try again later"
		}
	}
	if !live && !stored {
		return http.StatusNotFound, "no such visit"
	}
	setVisitsCookie(w, r, slices.DeleteFunc(visitIDsOf(r), func(x storage.VisitID) bool { return x == id }))
	return 0, ""
}

// searchKinds are the fingerprints /search takes.
func searchKinds() []storage.FingerprintKind {
	return []storage.FingerprintKind{storage.SearchJA4, storage.SearchJA3, storage.SearchJA3N, storage.SearchAkamai, storage.SearchPeetPrint}
}

// search runs the search of r's query: the result, or a status and a
// message (status 0 with a nil result: no query).
func (s *Site) search(r *http.Request) (*storage.SearchResult, int, string) {
	q := r.URL.Query()
	kind, hash := storage.FingerprintKind(q.Get("kind")), strings.TrimSpace(q.Get("hash"))
	if kind == "" && hash == "" {
		return nil, 0, ""
	}
	if !slices.Contains(searchKinds(), kind) {
		return nil, http.StatusBadRequest, "kind must be one of ja4, ja3, ja3n, akamai, peetprint"
	}
	if hash == "" || len(hash) > 256 {
		return nil, http.StatusBadRequest, "hash must be a fingerprint value of at most 256 characters"
	}
	if s.cfg.Store == nil {
		return nil, http.StatusServiceUnavailable, "no store"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res, err := s.cfg.Store.Search(ctx, kind, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && res.Observations == 0):
		return nil, http.StatusNotFound, "not seen in the dataset"
	case err != nil:
		s.cfg.Log.Error("fp: search", "err", err)
		return nil, http.StatusServiceUnavailable, "the dataset cannot be read now"
	}
	return res, 0, ""
}

func (s *Site) serveSearchPage(w http.ResponseWriter, r *http.Request) {
	res, status, msg := s.search(r)
	data := struct {
		Kinds  []storage.FingerprintKind
		Kind   storage.FingerprintKind
		Hash   string
		Error  string
		Result *storage.SearchResult
	}{searchKinds(), storage.FingerprintKind(r.URL.Query().Get("kind")), r.URL.Query().Get("hash"), msg, res}
	if status == 0 {
		status = http.StatusOK
	}
	s.render(w, status, "search", data)
}

func (s *Site) serveStatsPage(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Totals []storage.FamilyTotal
		Error  string
	}{}
	status := http.StatusOK
	if s.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var err error
		if data.Totals, err = s.cfg.Store.FamilyTotals(ctx); err != nil {
			s.cfg.Log.Error("fp: statistics", "err", err)
			data.Error, status = "the dataset cannot be read now", http.StatusServiceUnavailable
		}
	}
	s.render(w, status, "stats", data)
}
