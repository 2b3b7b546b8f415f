package web

import (
	"container/list"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/fpwork/fp/storage"
)

// ContextKind is a browser context of the fp page: the storage kinds,
// with the form split by method.
type ContextKind string

// The contexts a visit of the fp page records, in the order the page
// shows them.
const (
	ContextNavigate  ContextKind = "navigate"
	ContextFetch     ContextKind = "fetch"
	ContextXHR       ContextKind = "xhr"
	ContextWebsocket ContextKind = "websocket"
	ContextFormPost  ContextKind = "form-post"
	ContextFormGet   ContextKind = "form-get"
)

// ContextKinds lists every ContextKind; a visit with each is complete.
func ContextKinds() []ContextKind {
	return []ContextKind{ContextNavigate, ContextFetch, ContextXHR, ContextWebsocket, ContextFormPost, ContextFormGet}
}

// StorageKind is the kind the store keeps a context's observation under.
func (k ContextKind) StorageKind() storage.RequestKind {
	switch k {
	case ContextFetch:
		return storage.KindFetch
	case ContextXHR:
		return storage.KindXHR
	case ContextWebsocket:
		return storage.KindWebsocket
	case ContextFormPost, ContextFormGet:
		return storage.KindForm
	}
	return storage.KindNavigate
}

// VisitContext is one request of a visit, as the report shows it.
type VisitContext struct {
	Kind ContextKind `json:"kind"`
	At   time.Time   `json:"at"`
	// Retry marks a navigation Chromium repeated because of Critical-CH.
	Retry  bool   `json:"retry,omitempty"`
	Report Report `json:"report"`
	// JS holds the JavaScript values the fetch carried.
	JS json.RawMessage `json:"js,omitempty"`
	// Stored says whether the context went to the store (with consent,
	// and a capture record of the request).
	Stored bool `json:"stored"`
}

// liveVisit is a visit the site is showing: its contexts so far and the
// event streams waiting for more.
type liveVisit struct {
	id      storage.VisitID
	start   time.Time
	seen    time.Time // the last context
	consent bool
	fleet   bool
	// hintless: the visit's first navigation came without the critical
	// client hints (so Chromium may retry it with them).
	hintless bool
	contexts []VisitContext
	waiting  map[chan struct{}]struct{}
	elem     *list.Element
}

// visitTable holds the live visits in memory, bounded in number, age and
// contexts per visit: what the report page, its event stream and
// /api/visit read. The store keeps (with consent) what outlives it.
type visitTable struct {
	mu          sync.Mutex
	visits      map[storage.VisitID]*liveVisit
	order       *list.List // least recently used first
	maxVisits   int
	maxContexts int
	maxWaiting  int // event streams per visit
	ttl         time.Duration
	now         func() time.Time
}

func newVisitTable(maxVisits, maxContexts int, ttl time.Duration, now func() time.Time) *visitTable {
	return &visitTable{visits: map[storage.VisitID]*liveVisit{}, order: list.New(), maxVisits: maxVisits,
		maxContexts: maxContexts, maxWaiting: 8, ttl: ttl, now: now}
}

// VisitSnapshot is a copy of a live visit's state.
type VisitSnapshot struct {
	ID       storage.VisitID
	Start    time.Time
	Consent  bool
	Fleet    bool
	Contexts []VisitContext
}

// Done lists the context kinds seen, in ContextKinds order.
func (s *VisitSnapshot) Done() []ContextKind {
	var out []ContextKind
	for _, k := range ContextKinds() {
		if s.has(k) {
			out = append(out, k)
		}
	}
	return out
}

func (s *VisitSnapshot) has(k ContextKind) bool {
	return slices.ContainsFunc(s.Contexts, func(c VisitContext) bool { return c.Kind == k })
}

// Complete reports whether every context kind has been seen.
func (s *VisitSnapshot) Complete() bool { return len(s.Done()) == len(ContextKinds()) }

// Latest returns the last context of kind k.
func (s *VisitSnapshot) Latest(k ContextKind) (VisitContext, bool) {
	for i := len(s.Contexts) - 1; i >= 0; i-- {
		if s.Contexts[i].Kind == k {
			return s.Contexts[i], true
		}
	}
	return VisitContext{}, false
}

// create adds a visit. The least recently used visits past maxVisits, and
// those idle past the ttl, are dropped.
func (t *visitTable) create(id storage.VisitID, consent, fleet, hintless bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		v := e.Value.(*liveVisit)
		if len(t.visits) < t.maxVisits && now.Sub(v.seen) < t.ttl {
			break
		}
		t.dropLocked(v)
	}
	v := &liveVisit{id: id, start: now, seen: now, consent: consent, fleet: fleet, hintless: hintless,
		waiting: map[chan struct{}]struct{}{}}
	v.elem = t.order.PushBack(v)
	t.visits[id] = v
}

func (t *visitTable) dropLocked(v *liveVisit) {
	t.order.Remove(v.elem)
	delete(t.visits, v.id)
	for ch := range v.waiting {
		close(ch)
		delete(v.waiting, ch) // so that its cancel does not close it again
	}
}

// get returns a snapshot of visit id.
func (t *visitTable) get(id storage.VisitID) (VisitSnapshot, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.visits[id]
	if !ok {
		return VisitSnapshot{}, false
	}
	return v.snapshotLocked(), true
}

func (v *liveVisit) snapshotLocked() VisitSnapshot {
	return VisitSnapshot{ID: v.id, Start: v.start, Consent: v.consent, Fleet: v.fleet, Contexts: slices.Clone(v.contexts)}
}

// retryOf reports whether a navigation that carries the critical client
// hints repeats visit id's first one: the visit has only that navigation,
// made without them within the last window.
func (t *visitTable) retryOf(id storage.VisitID, window time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.visits[id]
	return ok && v.hintless && len(v.contexts) == 1 && v.contexts[0].Kind == ContextNavigate &&
		!v.contexts[0].Retry && t.now().Sub(v.start) <= window
}

// add appends a context to visit id and wakes its event streams. It
// reports false when the visit is unknown or holds maxContexts already.
func (t *visitTable) add(id storage.VisitID, c VisitContext) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.visits[id]
	if !ok || len(v.contexts) >= t.maxContexts {
		return false
	}
	v.contexts = append(v.contexts, c)
	v.seen = t.now()
	t.order.MoveToBack(v.elem)
	for ch := range v.waiting {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return true
}

// remove drops visit id (deleted by its visitor).
func (t *visitTable) remove(id storage.VisitID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.visits[id]
	if ok {
		t.dropLocked(v)
	}
	return ok
}

// wait returns a channel that receives after each new context of visit
// id, and is closed when the visit leaves the table; cancel stops it.
// ok is false when the visit is unknown or has maxWaiting streams.
func (t *visitTable) wait(id storage.VisitID) (ch chan struct{}, cancel func(), ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, found := t.visits[id]
	if !found || len(v.waiting) >= t.maxWaiting {
		return nil, nil, false
	}
	ch = make(chan struct{}, 1)
	v.waiting[ch] = struct{}{}
	return ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, ok := v.waiting[ch]; ok {
			delete(v.waiting, ch)
			close(ch)
		}
	}, true
}
