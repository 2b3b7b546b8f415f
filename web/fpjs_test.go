package web

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/starfederation/datastar-go/datastar"

	"github.com/fpwork/fp/internal/chromiumtest"
)

// The page script's tests run web/static/fp.js in a real headless Chromium
// against fakeSite, a stand-in for the fp server that serves the report
// page of docs/fp-site.md, scripted Datastar events, and records the
// contexts the script sends.

const (
	// pageScriptVisit is the visit of the fake site's pages.
	pageScriptVisit = "0123456789abcdef0123456789abcdef"
	// pageScriptCSP is the site's Content-Security-Policy (docs/fp-site.md):
	// the fake site sends it, so the script runs under it.
	pageScriptCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	// pageScriptContexts are the six contexts of a visit, in the order the
	// script's auto mode brings them.
	pageScriptContexts = "navigate fetch xhr websocket form-post form-get"
	// pageScriptTimeout bounds every wait of these tests.
	pageScriptTimeout = 30 * time.Second
	// pageScriptDoneField is the form field submitRecorder adds.
	pageScriptDoneField = "fp-test-done"
)

// submitRecorder runs in every page of a tab before the page's scripts
// (Page.addScriptToEvaluateOnNewDocument, not subject to the CSP): on a
// form's submit event it adds the field pageScriptDoneField, the page's
// data-done at that moment.
const submitRecorder = `document.addEventListener('submit', (e) => {
	const input = document.createElement('input');
	input.type = 'hidden';
	input.name = '` + pageScriptDoneField + `';
	input.value = document.getElementById('report')?.dataset.done ?? '';
	e.target.append(input);
}, true);`

const pageScriptPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fp test</title>
<link rel="stylesheet" href="/static/fp.css">
<script src="/static/fp.js" defer></script>
</head>
<body>
<main id="report" data-visit="{{.Visit}}" data-auto="{{.Auto}}" data-consent="no" data-done="{{.Done}}">
<p id="progress" data-complete="{{.Complete}}">contexts: <span data-signal="done">{{.Done}}</span></p>
<pre id="script-log"></pre>
{{.Fixture}}
<form id="form-post" method="post" action="/form?visit={{.Visit}}"><input type="hidden" name="auto" value="{{.Auto}}"><button id="form-post-submit">POST</button></form>
<form id="form-get" method="get" action="/form"><input type="hidden" name="visit" value="{{.Visit}}"><input type="hidden" name="auto" value="{{.Auto}}"><button id="form-get-submit">GET</button></form>
</main>
</body>
</html>
`

// scriptRequest is a context the script (or its forms) sent the fake site.
type scriptRequest struct {
	Context string // fetch, xhr, websocket, form-post, form-get
	Method  string
	Path    string
	Query   url.Values
	Header  http.Header
	Body    []byte
	Form    url.Values // forms: the fields, from the body (POST) or the query (GET)
	// PageDone is the page's data-done when it submitted the form (the
	// field pageScriptDoneField, added by submitRecorder).
	PageDone string

	Subprotocol string               // websocket: the one accepted
	Messages    []string             // websocket: what the client sent
	Closed      bool                 // websocket: the client has closed
	CloseStatus websocket.StatusCode // websocket: the client's close code
}

// fakeSite is just enough of the fp site for fp.js.
type fakeSite struct {
	script, style []byte
	page          *template.Template
	fixture       template.HTML
	// events, when set, is sent on the first /api/events stream; otherwise
	// every stream follows the contexts as they are recorded.
	events    func(*datastar.ServerSentEventGenerator) error
	failFetch bool // /api/fetch answers 500 and does not record the context
	quit      chan struct{}

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	done      []string
	holdWS    bool // the websocket context is kept out of the signals
	requests  []*scriptRequest
	streams   int
	eventsErr error
}

func newFakeSite(t *testing.T, done string) *fakeSite {
	t.Helper()
	script, err := os.ReadFile("static/fp.js")
	if err != nil {
		t.Fatal(err)
	}
	style, err := os.ReadFile("static/fp.css")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSite{
		script:  script,
		style:   style,
		page:    template.Must(template.New("report").Parse(pageScriptPage)),
		quit:    make(chan struct{}),
		changed: make(chan struct{}),
		done:    strings.Fields(done),
	}
}

// start serves the site over TLS on loopback and returns its URL. The
// server outlives the browser when start is called before
// chromiumtest.Start (cleanups run last first).
func (s *fakeSite) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(s.handler())
	t.Cleanup(func() {
		close(s.quit)
		srv.Close()
	})
	return srv.URL
}

func (s *fakeSite) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /report", s.servePage)
	mux.HandleFunc("GET /static/fp.js", serveScriptFile(s.script, "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/fp.css", serveScriptFile(s.style, "text/css; charset=utf-8"))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/events", s.serveEvents)
	mux.HandleFunc("POST /api/fetch", s.serveAPI("fetch"))
	mux.HandleFunc("POST /api/xhr", s.serveAPI("xhr"))
	mux.HandleFunc("GET /api/ws", s.serveWebsocket)
	mux.HandleFunc("POST /form", s.serveForm("form-post"))
	mux.HandleFunc("GET /form", s.serveForm("form-get"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageScriptCSP)
		mux.ServeHTTP(w, r)
	})
}

func serveScriptFile(b []byte, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	}
}

// changeLocked wakes every waiter; s.mu is held.
func (s *fakeSite) changeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// record keeps a context the site received and adds it to the visit's.
func (s *fakeSite) record(req *scriptRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if !slices.Contains(s.done, req.Context) {
		s.done = append(s.done, req.Context)
	}
	s.changeLocked()
}

// update changes the site's state under its lock and wakes the waiters.
func (s *fakeSite) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.changeLocked()
}

// waitFor waits until cond, called with the site's lock held, is true.
func (s *fakeSite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(pageScriptTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; the site has %v", what, s.contexts())
		}
	}
}

// received returns copies of the recorded requests.
func (s *fakeSite) received() []scriptRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]scriptRequest, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// contexts returns the recorded requests' contexts, in order.
func (s *fakeSite) contexts() []string {
	var out []string
	for _, r := range s.received() {
		out = append(out, r.Context)
	}
	return out
}

// has reports whether the site received the context; s.mu is held.
func (s *fakeSite) has(name string) bool {
	return slices.ContainsFunc(s.requests, func(r *scriptRequest) bool { return r.Context == name })
}

// waitWebsocketClosed waits until every websocket context the site
// received has been closed by the client.
func (s *fakeSite) waitWebsocketClosed(t *testing.T) {
	t.Helper()
	s.waitFor(t, "the websocket to close", func() bool {
		return !slices.ContainsFunc(s.requests, func(r *scriptRequest) bool { return r.Context == "websocket" && !r.Closed })
	})
}

func (s *fakeSite) servePage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	done := strings.Join(s.done, " ")
	complete := len(s.done) == len(strings.Fields(pageScriptContexts))
	s.mu.Unlock()
	auto := "0"
	if r.URL.Query().Get("auto") == "1" {
		auto = "1"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.page.Execute(w, map[string]any{
		"Visit":    r.URL.Query().Get("visit"),
		"Auto":     auto,
		"Done":     done,
		"Complete": complete,
		"Fixture":  s.fixture,
	})
}

// serveEvents sends the scripted events on the first stream, or the
// visit's contexts as signals whenever they change, and keeps the stream
// open (a stream that ends would be reconnected and replayed).
func (s *fakeSite) serveEvents(w http.ResponseWriter, r *http.Request) {
	sse := datastar.NewSSE(w, r)
	s.mu.Lock()
	s.streams++
	first := s.streams == 1
	s.mu.Unlock()
	if s.events != nil {
		if first {
			if err := s.events(sse); err != nil {
				s.update(func() { s.eventsErr = err })
			}
		}
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	}
	sent := "\x00"
	for {
		s.mu.Lock()
		var visible []string
		for _, c := range s.done {
			if c != "websocket" || !s.holdWS {
				visible = append(visible, c)
			}
		}
		text := strings.Join(visible, " ")
		changed := s.changed
		s.mu.Unlock()
		if text != sent {
			patch, _ := json.Marshal(struct {
				Done     string `json:"done"`
				Complete bool   `json:"complete"`
			}{text, len(visible) == len(strings.Fields(pageScriptContexts))})
			if err := sse.PatchSignals(patch); err != nil {
				return
			}
			sent = text
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
}

func newScriptRequest(name string, r *http.Request) *scriptRequest {
	return &scriptRequest{
		Context: name,
		Method:  r.Method,
		Path:    r.URL.Path,
		Query:   r.URL.Query(),
		Header:  r.Header.Clone(),
	}
}

// serveAPI records the fetch or XHR context and answers as the site does.
func (s *fakeSite) serveAPI(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := newScriptRequest(name, r)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
		if err != nil {
			http.Error(w, `{"error":"body"}`, http.StatusRequestEntityTooLarge)
			return
		}
		req.Body = body
		if name == "fetch" && s.failFetch {
			s.update(func() { s.requests = append(s.requests, req) })
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"failed on purpose"}`)
			return
		}
		s.record(req)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"`+name+`","report":{}}`)
	}
}

// serveWebsocket picks fp.v1, sends one report message, then echoes until
// the client closes.
func (s *fakeSite) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	req := newScriptRequest("websocket", r)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"fp.v1"}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	req.Subprotocol = c.Subprotocol()
	s.record(req)

	ctx, cancel := context.WithTimeout(context.Background(), pageScriptTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"kind":"websocket","report":{}}`)); err != nil {
		return
	}
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			s.update(func() {
				req.Closed = true
				req.CloseStatus = websocket.CloseStatus(err)
			})
			return
		}
		s.update(func() { req.Messages = append(req.Messages, string(msg)) })
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// serveForm records a form context and redirects to the visit's report,
// keeping auto mode, as the site does.
func (s *fakeSite) serveForm(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := newScriptRequest(name, r)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Form = r.PostForm
		if r.Method == http.MethodGet {
			req.Form = r.URL.Query()
		}
		req.PageDone = req.Form.Get(pageScriptDoneField)
		req.Form.Del(pageScriptDoneField)
		s.record(req)
		loc := "/report?visit=" + url.QueryEscape(r.URL.Query().Get("visit"))
		if r.Form.Get("auto") == "1" {
			loc += "&auto=1"
		}
		http.Redirect(w, r, loc, http.StatusSeeOther)
	}
}

// scriptConsole collects a tab's console messages until the test ends.
type scriptConsole struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func watchScriptConsole(t *testing.T, tab context.Context) *scriptConsole {
	ctx, cancel := context.WithCancel(tab)
	messages := chromedp.Console(ctx)
	c := &scriptConsole{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.messages = append(c.messages, m)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return c
}

// check fails t for every uncaught exception and error the page logged
// (a CSP violation is one), but those whose text contains one of allowed.
func (c *scriptConsole) check(t *testing.T, allowed ...string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.messages {
		if slices.ContainsFunc(allowed, func(a string) bool { return strings.Contains(m.Text, a) }) {
			continue
		}
		if m.IsException() || m.Type == chromedp.ConsoleError {
			t.Errorf("page console: %s (%s:%d)", m, m.URL, m.Line)
		}
	}
	if t.Failed() {
		for _, m := range c.messages {
			t.Logf("page console: %s (%s:%d)", m, m.URL, m.Line)
		}
	}
}

// newScriptTab opens a tab in the browser for one subtest.
func newScriptTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// waitScriptPage waits until the JavaScript expression is true in the tab's page,
// checked on every change of the page's DOM; an expression that throws
// (a page still loading) is false. A navigation ends a poll, so it is
// polled again in the new page.
func waitScriptPage(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	predicate := `(() => { try { return !!(` + expr + `); } catch { return false; } })()`
	deadline := time.Now().Add(pageScriptTimeout)
	var err error
	for attempt := 0; attempt < 100 && time.Now().Before(deadline); attempt++ {
		_, err = chromedp.Run(tab, chromedp.Poll[chromedp.Void](predicate,
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingMutation()))
		if err == nil {
			return
		}
		if errors.Is(err, chromedp.ErrPollingTimeout) {
			break
		}
	}
	t.Fatalf("waiting for %s (%s): %v", what, expr, err)
}

// evalScriptPage evaluates a JavaScript expression in the tab's page, with the
// helpers $(id) and texts(selector) (the elements' texts joined by ",").
func evalScriptPage(t *testing.T, tab context.Context, expr string) string {
	t.Helper()
	js := `(() => {
		const $ = (id) => document.getElementById(id);
		const texts = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.textContent).join(',');
		return String(` + expr + `);
	})()`
	got, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return got
}

// TestPageScriptAppliesEvents: the script applies each kind of Datastar
// event the server may send, in order, without eval: every patch mode, with
// and without a selector, multi-line elements, signal merges (null removes a
// key, onlyIfMissing keeps what is there), data-signal bindings, and
// #report data-done and #progress data-complete from the signals.
func TestPageScriptAppliesEvents(t *testing.T) {
	type sse = datastar.ServerSentEventGenerator
	signals := func(json string, opts ...datastar.PatchSignalsOption) func(*sse) error {
		return func(s *sse) error { return s.PatchSignals([]byte(json), opts...) }
	}
	elements := func(html string, opts ...datastar.PatchElementOption) func(*sse) error {
		return func(s *sse) error { return s.PatchElements(html, opts...) }
	}
	const reordered = "form-get form-post websocket xhr fetch navigate"
	cases := []struct {
		name    string
		fixture string
		events  []func(*sse) error
		check   string // a JavaScript expression (see evalScriptPage)
		want    string
	}{{
		name:    "outer by id",
		fixture: `<div id="o1" class="old">old</div><div id="o2">old</div>`,
		events:  []func(*sse) error{elements(`<div id="o1" class="new">new 1</div><div id="o2">new 2</div>`)},
		check:   `[$('o1').className, texts('#o1, #o2')].join('|')`,
		want:    "new|new 1,new 2",
	}, {
		name:    "outer skips elements without id",
		fixture: `<div id="o3">old</div>`,
		events:  []func(*sse) error{elements(`<p class="no-id">no id</p><div id="o3">new</div>`)},
		check:   `document.querySelectorAll('.no-id').length + '|' + texts('#o3')`,
		want:    "0|new",
	}, {
		name:    "outer with a selector",
		fixture: `<div id="o4" class="outer-target">old</div>`,
		events: []func(*sse) error{elements(`<div id="o4-new">new</div>`,
			datastar.WithSelector(".outer-target"), datastar.WithMode(datastar.ElementPatchModeOuter))},
		check: `($('o4') === null) + '|' + texts('#o4-new')`,
		want:  "true|new",
	}, {
		name:    "inner with a selector",
		fixture: `<div id="i1"><b>old</b></div>`,
		events: []func(*sse) error{elements(`<i>new</i>`,
			datastar.WithSelector("#i1"), datastar.WithMode(datastar.ElementPatchModeInner))},
		check: `$('i1').innerHTML`,
		want:  "<i>new</i>",
	}, {
		name:    "inner by id",
		fixture: `<div id="i2" class="kept"><b>old</b></div>`,
		events:  []func(*sse) error{elements(`<div id="i2"><i>new</i></div>`, datastar.WithMode(datastar.ElementPatchModeInner))},
		check:   `document.querySelectorAll('#i2').length + '|' + $('i2').className + '|' + $('i2').innerHTML`,
		want:    "1|kept|<i>new</i>",
	}, {
		name:    "replace",
		fixture: `<div id="r1" class="old" data-x="1">old</div>`,
		events:  []func(*sse) error{elements(`<div id="r1">new</div>`, datastar.WithMode(datastar.ElementPatchModeReplace))},
		check:   `[$('r1').className, $('r1').textContent, $('r1').hasAttribute('data-x')].join('|')`,
		want:    "|new|false",
	}, {
		name:    "prepend",
		fixture: `<ul id="l1"><li>b</li></ul>`,
		events: []func(*sse) error{elements(`<li>a</li>`,
			datastar.WithSelector("#l1"), datastar.WithMode(datastar.ElementPatchModePrepend))},
		check: `texts('#l1 > li')`,
		want:  "a,b",
	}, {
		name:    "append",
		fixture: `<ul id="l2"><li>b</li></ul>`,
		events: []func(*sse) error{elements("<li>c</li>\n<li>d</li>",
			datastar.WithSelector("#l2"), datastar.WithMode(datastar.ElementPatchModeAppend))},
		check: `texts('#l2 > li')`,
		want:  "b,c,d",
	}, {
		name:    "before",
		fixture: `<div id="w1"><span id="a1">anchor</span></div>`,
		events: []func(*sse) error{elements(`<span>before</span>`,
			datastar.WithSelector("#a1"), datastar.WithMode(datastar.ElementPatchModeBefore))},
		check: `texts('#w1 > span')`,
		want:  "before,anchor",
	}, {
		name:    "after",
		fixture: `<div id="w2"><span id="a2">anchor</span></div>`,
		events: []func(*sse) error{elements(`<span>after</span>`,
			datastar.WithSelector("#a2"), datastar.WithMode(datastar.ElementPatchModeAfter))},
		check: `texts('#w2 > span')`,
		want:  "anchor,after",
	}, {
		name:    "remove with a selector",
		fixture: `<div id="gone1">x</div><div class="gone2">y</div><div class="gone2">z</div><div id="stays1">s</div>`,
		events:  []func(*sse) error{func(s *sse) error { return s.RemoveElement("#gone1, .gone2") }},
		check:   `document.querySelectorAll('#gone1, .gone2').length + '|' + texts('#stays1')`,
		want:    "0|s",
	}, {
		name:    "remove by id",
		fixture: `<div id="gone3">x</div>`,
		events:  []func(*sse) error{elements(`<div id="gone3"></div>`, datastar.WithMode(datastar.ElementPatchModeRemove))},
		check:   `$('gone3') === null`,
		want:    "true",
	}, {
		name:    "a selector patches every match",
		fixture: `<p class="many">1</p><p class="many">2</p><p class="many">3</p>`,
		events: []func(*sse) error{elements(`<em>hit</em>`,
			datastar.WithSelector("p.many"), datastar.WithMode(datastar.ElementPatchModeInner))},
		check: `texts('p.many > em')`,
		want:  "hit,hit,hit",
	}, {
		name:    "multi-line elements",
		fixture: `<section id="ctx-fetch" data-seen="false"><h2>fetch</h2></section>`,
		events: []func(*sse) error{elements("<section id=\"ctx-fetch\" data-seen=\"true\">\n<h2>fetch</h2>\n" +
			"<pre>line 1\nline 2\n  indented</pre>\n</section>")},
		check: `$('ctx-fetch').dataset.seen + '|' + $('ctx-fetch').querySelector('pre').textContent`,
		want:  "true|line 1\nline 2\n  indented",
	}, {
		name:    "scripts in elements are dropped",
		fixture: `<div id="sc1"></div>`,
		events:  []func(*sse) error{elements(`<div id="sc1"><script>document.title = 'ran'</script>safe</div>`)},
		check:   `document.title + '|' + $('sc1').querySelectorAll('script').length + '|' + $('sc1').textContent`,
		want:    "fp test|0|safe",
	}, {
		name:    "signals merge recursively",
		fixture: `<pre id="s-m" data-signal="m"></pre>`,
		events:  []func(*sse) error{signals(`{"m":{"a":1,"b":{"c":2}}}`), signals(`{"m":{"b":{"d":[3,4]}}}`)},
		check:   `texts('#s-m')`,
		want:    `{"a":1,"b":{"c":2,"d":[3,4]}}`,
	}, {
		name:    "null removes a signal",
		fixture: `<pre id="s-n" data-signal="n"></pre><span id="s-n2" data-signal="n2"></span>`,
		events:  []func(*sse) error{signals(`{"n":{"a":1,"b":2},"n2":"x"}`), signals(`{"n":{"b":null},"n2":null}`)},
		check:   `texts('#s-n, #s-n2')`,
		want:    `{"a":1},`,
	}, {
		name:    "onlyIfMissing keeps what is there",
		fixture: `<pre id="s-o" data-signal="o"></pre><span id="s-p" data-signal="p"></span>`,
		events: []func(*sse) error{signals(`{"o":{"x":1}}`),
			signals(`{"o":{"x":2,"y":3},"p":4}`, datastar.WithOnlyIfMissing(true))},
		check: `texts('#s-o, #s-p')`,
		want:  `{"x":1,"y":3},4`,
	}, {
		name:    "multi-line signals",
		fixture: `<pre id="s-ml" data-signal="ml"></pre>`,
		events:  []func(*sse) error{signals("{\n  \"ml\": \"two\\nlines\"\n}")},
		check:   `texts('#s-ml')`,
		want:    "two\nlines",
	}, {
		name:    "a dotted path binds a nested signal, in patched-in elements too",
		fixture: `<div id="late"></div>`,
		events: []func(*sse) error{signals(`{"deep":{"er":{"value":"v"}}}`),
			elements(`<div id="late"><span data-signal="deep.er.value"></span></div>`)},
		check: `texts('#late')`,
		want:  "v",
	}, {
		name:    "an element keeps its text until its signal exists",
		fixture: `<span id="s-never" data-signal="never">server text</span>`,
		check:   `texts('#s-never')`,
		want:    "server text",
	}, {
		// Last: the test waits for it.
		name:   "done and complete",
		events: []func(*sse) error{signals(`{"done":"` + reordered + `","complete":true}`)},
		check:  `$('report').dataset.done + '|' + $('progress').dataset.complete + '|' + texts('#progress [data-signal=done]')`,
		want:   reordered + "|true|" + reordered,
	}}

	// The page has seen the script's contexts (it sends none) but not all
	// six, so it starts with data-complete="false".
	site := newFakeSite(t, "navigate fetch xhr websocket")
	var fixture strings.Builder
	for _, tc := range cases {
		fixture.WriteString(tc.fixture + "\n")
	}
	site.fixture = template.HTML(fixture.String())
	site.events = func(s *sse) error {
		for _, tc := range cases {
			for _, send := range tc.events {
				if err := send(s); err != nil {
					return err
				}
			}
		}
		return nil
	}
	base := site.start(t)
	tab := chromiumtest.Start(t)
	cons := watchScriptConsole(t, tab)

	if err := chromedp.Do(tab, chromedp.Navigate(base+"/report?visit="+pageScriptVisit)); err != nil {
		t.Fatal(err)
	}
	waitScriptPage(t, tab, "the last event", `document.getElementById('progress').dataset.complete === 'true' &&
		document.getElementById('report').dataset.done === '`+reordered+`'`)
	site.mu.Lock()
	err := site.eventsErr
	site.mu.Unlock()
	if err != nil {
		t.Fatalf("sending the events: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := evalScriptPage(t, tab, tc.check); got != tc.want {
				t.Errorf("%s\n got %q\nwant %q", tc.check, got, tc.want)
			}
		})
	}
	if got := evalScriptPage(t, tab, `$('script-log').textContent + $('report').dataset.script`); got != "idle" {
		t.Errorf("script log and state: %q, want no log and idle", got)
	}
	if got := site.contexts(); len(got) != 0 {
		t.Errorf("the script sent %v; the page had seen its contexts", got)
	}
	cons.check(t)
}

// TestPageScriptContexts: the script sends the fetch, XHR and websocket
// contexts not yet in data-done, in that order, with the contract's
// request shapes; a failure is logged in #script-log and the next context
// is still sent; the JavaScript values are sent whatever the browser lacks.
func TestPageScriptContexts(t *testing.T) {
	cases := []struct {
		name      string
		done      string // the page's data-done
		inject    string // run in the page before its scripts
		failFetch bool   // /api/fetch answers 500
		want      []string
		uad       userAgentDataWant
		log       string // #script-log
	}{
		{name: "none seen", done: "navigate", want: []string{"fetch", "xhr", "websocket"}},
		{name: "fetch seen", done: "navigate fetch", want: []string{"xhr", "websocket"}},
		{name: "xhr seen", done: "navigate xhr", want: []string{"fetch", "websocket"}},
		{name: "all seen", done: "navigate fetch xhr websocket"},
		{
			name:   "high-entropy values fail",
			done:   "navigate",
			inject: `Object.defineProperty(NavigatorUAData.prototype, 'getHighEntropyValues', {value: () => Promise.reject(new Error('denied'))});`,
			want:   []string{"fetch", "xhr", "websocket"},
			uad:    uadError,
		},
		{
			name: "no userAgentData, no deviceMemory",
			done: "navigate",
			inject: `Object.defineProperty(Navigator.prototype, 'userAgentData', {get: () => undefined});
				Object.defineProperty(Navigator.prototype, 'deviceMemory', {get: () => undefined});`,
			want: []string{"fetch", "xhr", "websocket"},
			uad:  uadNone,
		},
		{
			name:      "a failed fetch is logged",
			done:      "navigate",
			failFetch: true,
			want:      []string{"fetch", "xhr", "websocket"},
			log:       "fetch: HTTP 500\n",
		},
	}
	browser := chromiumtest.Start(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := newFakeSite(t, tc.done)
			site.failFetch = tc.failFetch
			base := site.start(t)
			tab := newScriptTab(t, browser)
			cons := watchScriptConsole(t, tab)
			if tc.inject != "" {
				if err := chromedp.Do(tab, addScriptOnNewDocument(tc.inject)); err != nil {
					t.Fatal(err)
				}
			}
			if err := chromedp.Do(tab, chromedp.Navigate(base+"/report?visit="+pageScriptVisit)); err != nil {
				t.Fatal(err)
			}
			waitScriptPage(t, tab, "the script to finish", `document.getElementById('report').dataset.script === 'idle'`)
			if got := site.contexts(); !slices.Equal(got, tc.want) {
				t.Fatalf("contexts sent %v, want %v", got, tc.want)
			}
			site.waitWebsocketClosed(t)
			for _, req := range site.received() {
				checkContextRequest(t, req, tc.uad)
			}
			if got := evalScriptPage(t, tab, `$('script-log').textContent`); got != tc.log {
				t.Errorf("script log %q, want %q", got, tc.log)
			}
			// The signals of the recorded contexts reach the page.
			var seen []string
			for _, c := range tc.want {
				if c != "fetch" || !tc.failFetch {
					seen = append(seen, c)
				}
			}
			done := strings.Join(append(strings.Fields(tc.done), seen...), " ")
			waitScriptPage(t, tab, "data-done "+done, `document.getElementById('report').dataset.done === '`+done+`'`)
			if tc.failFetch {
				cons.check(t, "status of 500")
			} else {
				cons.check(t)
			}
		})
	}
}

// addScriptOnNewDocument runs the JavaScript source in every new document of the tab,
// before the page's scripts (Page.addScriptToEvaluateOnNewDocument; the
// page's CSP does not apply).
func addScriptOnNewDocument(source string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: source})
		return err
	})
}

// userAgentDataWant is what the fetch body's userAgentData should hold.
type userAgentDataWant int

const (
	uadFull  userAgentDataWant = iota // brands, mobile, platform and highEntropyValues
	uadError                          // brands, mobile, platform and error
	uadNone                           // null
)

// checkContextRequest checks one context's request against the contract.
func checkContextRequest(t *testing.T, req scriptRequest, uad userAgentDataWant) {
	t.Helper()
	want := map[string]struct{ method, path string }{
		"fetch":     {"POST", "/api/fetch"},
		"xhr":       {"POST", "/api/xhr"},
		"websocket": {"GET", "/api/ws"},
	}[req.Context]
	if req.Method != want.method || req.Path != want.path {
		t.Errorf("%s: %s %s, want %s %s", req.Context, req.Method, req.Path, want.method, want.path)
	}
	if got := req.Query["visit"]; !slices.Equal(got, []string{pageScriptVisit}) || len(req.Query) != 1 {
		t.Errorf("%s: query %v, want visit=%s only", req.Context, req.Query, pageScriptVisit)
	}
	switch req.Context {
	case "fetch", "xhr":
		if got := req.Header.Get("X-Fp-Context"); got != req.Context {
			t.Errorf("%s: X-Fp-Context %q", req.Context, got)
		}
		if got := req.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type %q", req.Context, got)
		}
	}
	switch req.Context {
	case "fetch":
		checkJSValues(t, req, uad)
	case "xhr":
		var body any
		if err := json.Unmarshal(req.Body, &body); err != nil || !sameJSON(body, map[string]any{"xhr": true}) {
			t.Errorf("xhr: body %s, want {\"xhr\":true}", req.Body)
		}
	case "websocket":
		if got := req.Header.Get("Sec-WebSocket-Protocol"); got != "fp.v1, fp.v2" {
			t.Errorf("websocket: subprotocols offered %q, want \"fp.v1, fp.v2\"", got)
		}
		if req.Subprotocol != "fp.v1" {
			t.Errorf("websocket: subprotocol %q", req.Subprotocol)
		}
		if !slices.Equal(req.Messages, []string{"hello"}) || !req.Closed || req.CloseStatus != websocket.StatusNormalClosure {
			t.Errorf("websocket: messages %q, closed %v with %v; want hello then a normal close", req.Messages, req.Closed, req.CloseStatus)
		}
	}
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// checkJSValues checks the fetch body: a JSON object of every value the
// contract lists, as the browser has them.
func checkJSValues(t *testing.T, req scriptRequest, want userAgentDataWant) {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &v); err != nil {
		t.Fatalf("fetch: body %s: %v", req.Body, err)
	}
	for _, key := range []string{
		"userAgent", "platform", "languages", "language", "vendor", "hardwareConcurrency",
		"deviceMemory", "webdriver", "cookieEnabled", "maxTouchPoints", "userAgentData",
		"screen", "timezone", "timezoneOffset",
	} {
		if _, ok := v[key]; !ok {
			t.Errorf("fetch: the JS values have no %q: %s", key, req.Body)
		}
	}
	var ua string
	if err := json.Unmarshal(v["userAgent"], &ua); err != nil || ua != req.Header.Get("User-Agent") {
		t.Errorf("fetch: userAgent %s, the request's User-Agent %q", v["userAgent"], req.Header.Get("User-Agent"))
	}
	var screen map[string]any
	if err := json.Unmarshal(v["screen"], &screen); err != nil {
		t.Errorf("fetch: screen %s: %v", v["screen"], err)
	}
	for _, key := range []string{"width", "height", "availWidth", "availHeight", "colorDepth", "pixelDepth", "devicePixelRatio"} {
		if _, ok := screen[key].(float64); !ok {
			t.Errorf("fetch: screen.%s is %v, want a number", key, screen[key])
		}
	}
	var tz string
	if err := json.Unmarshal(v["timezone"], &tz); err != nil || tz == "" {
		t.Errorf("fetch: timezone %s", v["timezone"])
	}
	var offset float64
	if err := json.Unmarshal(v["timezoneOffset"], &offset); err != nil {
		t.Errorf("fetch: timezoneOffset %s", v["timezoneOffset"])
	}
	if want == uadNone {
		if string(v["userAgentData"]) != "null" || string(v["deviceMemory"]) != "null" {
			t.Errorf("fetch: userAgentData %s, deviceMemory %s; want null for both", v["userAgentData"], v["deviceMemory"])
		}
		return
	}
	var uad struct {
		Brands            []struct{ Brand, Version string }
		Mobile            *bool
		Platform          *string
		HighEntropyValues map[string]any
		Error             *string
	}
	if err := json.Unmarshal(v["userAgentData"], &uad); err != nil {
		t.Fatalf("fetch: userAgentData %s: %v", v["userAgentData"], err)
	}
	if len(uad.Brands) == 0 || uad.Mobile == nil || uad.Platform == nil {
		t.Errorf("fetch: userAgentData %s: want brands, mobile and platform", v["userAgentData"])
	}
	switch want {
	case uadFull:
		// Chromium has getHighEntropyValues in a secure context.
		if uad.Error != nil {
			t.Errorf("fetch: getHighEntropyValues failed: %s", *uad.Error)
		}
		for _, key := range []string{"architecture", "bitness", "platformVersion", "fullVersionList"} {
			if _, ok := uad.HighEntropyValues[key]; !ok {
				t.Errorf("fetch: userAgentData.highEntropyValues has no %q: %s", key, v["userAgentData"])
			}
		}
	case uadError:
		if uad.Error == nil || *uad.Error != "denied" || uad.HighEntropyValues != nil {
			t.Errorf("fetch: userAgentData %s: want error \"denied\" and no highEntropyValues", v["userAgentData"])
		}
	}
}

// TestPageScriptAuto: with data-auto="1" the script submits #form-post when
// form-post is not in data-done, else #form-get when form-get is not; the
// site's redirects bring the page back until all six are seen. It submits
// only once the page's data-done, kept by the site's signals, shows fetch,
// XHR and websocket; in "held", the site keeps the websocket context out of
// its signals until the script waits for it.
func TestPageScriptAuto(t *testing.T) {
	cases := []struct {
		name string
		done string // the first page's data-done
		hold bool
		want []string
	}{
		{"every context", "navigate", false, []string{"fetch", "xhr", "websocket", "form-post", "form-get"}},
		{"held", "navigate", true, []string{"fetch", "xhr", "websocket", "form-post", "form-get"}},
		{"forms only", "navigate fetch xhr websocket", false, []string{"form-post", "form-get"}},
		{"form-get only", "navigate fetch xhr websocket form-post", false, []string{"form-get"}},
		{"form-post only", "navigate fetch xhr websocket form-get", false, []string{"form-post"}},
		{"nothing", pageScriptContexts, false, nil},
	}
	browser := chromiumtest.Start(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			site := newFakeSite(t, tc.done)
			site.holdWS = tc.hold
			base := site.start(t)
			tab := newScriptTab(t, browser)
			cons := watchScriptConsole(t, tab)
			if err := chromedp.Do(tab, addScriptOnNewDocument(submitRecorder), chromedp.Navigate(base+"/report?auto=1&visit="+pageScriptVisit)); err != nil {
				t.Fatal(err)
			}
			if tc.hold {
				site.waitFor(t, "the websocket context", func() bool { return site.has("websocket") })
				waitScriptPage(t, tab, "the script to wait for the signals",
					`document.getElementById('report').dataset.script === 'waiting'`)
				if slices.Contains(site.contexts(), "form-post") {
					t.Fatal("the form was posted before the site confirmed the websocket context")
				}
				site.update(func() { site.holdWS = false })
			}
			if len(tc.want) > 0 {
				last := tc.want[len(tc.want)-1]
				site.waitFor(t, last, func() bool { return site.has(last) })
			}
			waitScriptPage(t, tab, "the last page to settle", `document.getElementById('report').dataset.script === 'idle' &&
				document.getElementById('report').dataset.done.split(' ').length === 6`)
			if got := site.contexts(); !slices.Equal(got, tc.want) {
				t.Fatalf("contexts sent %v, want %v", got, tc.want)
			}
			site.waitWebsocketClosed(t)
			for _, req := range site.received() {
				switch req.Context {
				case "form-post", "form-get":
					checkFormRequest(t, req)
				default:
					checkContextRequest(t, req, uadFull)
				}
			}
			loc := evalScriptPage(t, tab, `location.pathname + location.search`)
			if want := "/report?visit=" + pageScriptVisit; len(tc.want) > 0 && loc != want+"&auto=1" {
				t.Errorf("the last page is %s, want %s&auto=1", loc, want)
			}
			if got := evalScriptPage(t, tab, `$('script-log').textContent`); got != "" {
				t.Errorf("script log: %q", got)
			}
			cons.check(t)
		})
	}
}

// checkFormRequest checks a form context: the page's form, submitted once
// the page had been told of fetch, XHR and websocket.
func checkFormRequest(t *testing.T, req scriptRequest) {
	t.Helper()
	switch req.Context {
	case "form-post":
		if req.Method != "POST" || req.Path != "/form" || !slices.Equal(req.Query["visit"], []string{pageScriptVisit}) {
			t.Errorf("form-post: %s %s?%s", req.Method, req.Path, req.Query.Encode())
		}
		if got := req.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
			t.Errorf("form-post: Content-Type %q", got)
		}
		if got := req.Form.Get("auto"); got != "1" {
			t.Errorf("form-post: fields %v, want auto=1", req.Form)
		}
	case "form-get":
		if req.Method != "GET" || req.Path != "/form" {
			t.Errorf("form-get: %s %s", req.Method, req.Path)
		}
		if got := req.Form; got.Get("visit") != pageScriptVisit || got.Get("auto") != "1" {
			t.Errorf("form-get: query %v, want visit=%s and auto=1", got, pageScriptVisit)
		}
	}
	for _, c := range []string{"fetch", "xhr", "websocket"} {
		if !slices.Contains(strings.Fields(req.PageDone), c) {
			t.Errorf("%s: submitted before the page was told of %s (data-done %q)", req.Context, c, req.PageDone)
		}
	}
}
