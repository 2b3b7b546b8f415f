package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// DefaultMemoryObservations bounds a Memory made by NewMemory: about
// 100 MB for observations the size of a Chromium visit's (some 40
// headers) with their hellos.
const DefaultMemoryObservations = 20000

// errClosed is returned by a Memory used after Close.
var errClosed = errors.New("storage: memory: closed")

// Memory is the Store used when no database is configured: the same
// behaviour as Postgres (the contract suite runs on both), nothing
// persisted. It is safe for concurrent use.
//
// It is bounded: when it holds more observations than its limit, it
// evicts the visits written first (the oldest by write order), whole, as
// DeleteVisit does, until it is within the limit; connections that no
// observation uses (a handshake without a request) are evicted in write
// order when there are more of them than the limit.
type Memory struct {
	mu     sync.RWMutex
	closed bool
	limit  int
	conns  map[ConnectionID]*memConnection
	visits map[VisitID]*memVisit
	obs    map[ObservationID]*memObservation
	// Write order, for eviction; ids deleted since may remain and are
	// skipped.
	visitOrder []VisitID
	connOrder  []ConnectionID
}

type memConnection struct {
	c       Connection               // Derived unused: see history
	history []ConnectionFingerprints // by version, lowest first
	uses    int                      // observations made on it
}

type memVisit struct {
	v   Visit
	obs []ObservationID
}

type memObservation struct {
	o       Observation
	history []ObservationFingerprints
}

// NewMemory returns an empty Memory bounded to DefaultMemoryObservations.
func NewMemory() *Memory { return NewMemoryLimit(DefaultMemoryObservations) }

// NewMemoryLimit returns an empty Memory that keeps at most
// maxObservations observations (at least 1).
func NewMemoryLimit(maxObservations int) *Memory {
	return &Memory{
		limit:  max(maxObservations, 1),
		conns:  map[ConnectionID]*memConnection{},
		visits: map[VisitID]*memVisit{},
		obs:    map[ObservationID]*memObservation{},
	}
}

// Len counts the stored connections, visits and observations.
func (m *Memory) Len() (connections, visits, observations int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.conns), len(m.visits), len(m.obs)
}

func (m *Memory) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: memory: %w", err)
	}
	if m.closed {
		return errClosed
	}
	return nil
}

// Write implements Store.
func (m *Memory) Write(ctx context.Context, b *Batch) error {
	if b == nil {
		return nil
	}
	if err := b.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	// Every reference is checked before anything is stored.
	inBatchConns := make(map[ConnectionID]bool, len(b.Connections))
	for _, c := range b.Connections {
		inBatchConns[c.ID] = true
	}
	inBatchVisits := make(map[VisitID]bool, len(b.Visits))
	for _, v := range b.Visits {
		inBatchVisits[v.ID] = true
	}
	for _, o := range b.Observations {
		if _, ok := m.obs[o.ID]; ok {
			continue
		}
		if _, ok := m.conns[o.ConnectionID]; !ok && !inBatchConns[o.ConnectionID] {
			return fmt.Errorf("storage: memory: write: observation %s: connection %s: %w", o.ID, o.ConnectionID, ErrNotFound)
		}
		if _, ok := m.visits[o.VisitID]; !ok && !inBatchVisits[o.VisitID] {
			return fmt.Errorf("storage: memory: write: observation %s: visit %s: %w", o.ID, o.VisitID, ErrNotFound)
		}
	}
	for _, c := range b.Connections {
		if _, ok := m.conns[c.ID]; ok {
			continue
		}
		mc := &memConnection{c: cloneConnection(c), history: []ConnectionFingerprints{c.Derived}}
		mc.c.Derived = ConnectionFingerprints{}
		m.conns[c.ID] = mc
		m.connOrder = append(m.connOrder, c.ID)
	}
	for _, v := range b.Visits {
		if _, ok := m.visits[v.ID]; ok {
			continue
		}
		m.visits[v.ID] = &memVisit{v: v}
		m.visitOrder = append(m.visitOrder, v.ID)
	}
	for _, o := range b.Observations {
		if _, ok := m.obs[o.ID]; ok {
			continue
		}
		mo := &memObservation{o: cloneObservation(o), history: []ObservationFingerprints{o.Derived}}
		mo.o.Derived = ObservationFingerprints{}
		m.obs[o.ID] = mo
		m.conns[o.ConnectionID].uses++
		mv := m.visits[o.VisitID]
		mv.obs = append(mv.obs, o.ID)
	}
	m.evict()
	return nil
}

// evict keeps the store within its limit (see Memory).
func (m *Memory) evict() {
	for len(m.obs) > m.limit && len(m.visitOrder) > 0 {
		id := m.visitOrder[0]
		m.visitOrder = m.visitOrder[1:]
		if _, ok := m.visits[id]; ok {
			m.deleteVisit(id)
		}
	}
	for i := 0; len(m.conns) > m.limit && i < len(m.connOrder); {
		id := m.connOrder[i]
		if c, ok := m.conns[id]; !ok || c.uses == 0 {
			delete(m.conns, id)
			m.connOrder = slices.Delete(m.connOrder, i, i+1)
			continue
		}
		i++
	}
	// Drop the ids of rows deleted since they were written.
	if len(m.visitOrder) > 2*len(m.visits)+64 {
		m.visitOrder = slices.DeleteFunc(m.visitOrder, func(id VisitID) bool { return m.visits[id] == nil })
	}
	if len(m.connOrder) > 2*len(m.conns)+64 {
		m.connOrder = slices.DeleteFunc(m.connOrder, func(id ConnectionID) bool { return m.conns[id] == nil })
	}
}

// deleteVisit removes a visit, its observations and the connections no
// other observation uses.
func (m *Memory) deleteVisit(id VisitID) {
	for _, oid := range m.visits[id].obs {
		mo, ok := m.obs[oid]
		if !ok {
			continue
		}
		if c := m.conns[mo.o.ConnectionID]; c != nil {
			if c.uses--; c.uses == 0 {
				delete(m.conns, mo.o.ConnectionID)
			}
		}
		delete(m.obs, oid)
	}
	delete(m.visits, id)
}

// connection returns a copy of a stored connection with its latest
// derived values.
func (mc *memConnection) connection() Connection {
	c := cloneConnection(mc.c)
	c.Derived = mc.history[len(mc.history)-1]
	return c
}

func (mo *memObservation) observation() Observation {
	o := cloneObservation(mo.o)
	o.Derived = mo.history[len(mo.history)-1]
	return o
}

func (mc *memConnection) latest() *ConnectionFingerprints { return &mc.history[len(mc.history)-1] }

func cloneConnection(c Connection) Connection {
	c.Hello = slices.Clone(c.Hello)
	c.HTTP2Preface = slices.Clone(c.HTTP2Preface)
	c.PseudoHeaderOrder = slices.Clone(c.PseudoHeaderOrder)
	return c
}

func cloneObservation(o Observation) Observation {
	o.Headers = slices.Clone(o.Headers)
	o.JS = slices.Clone(o.JS)
	return o
}

// record builds a visit's VisitRecord (caller holds the lock).
func (m *Memory) record(mv *memVisit) VisitRecord {
	r := VisitRecord{Visit: mv.v, Observations: make([]Observation, 0, len(mv.obs))}
	seen := map[ConnectionID]bool{}
	for _, oid := range mv.obs {
		o := m.obs[oid].observation()
		r.Observations = append(r.Observations, o)
		if !seen[o.ConnectionID] {
			seen[o.ConnectionID] = true
			r.Connections = append(r.Connections, m.conns[o.ConnectionID].connection())
		}
	}
	slices.SortFunc(r.Observations, func(a, b Observation) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(string(a.ID), string(b.ID)))
	})
	slices.SortFunc(r.Connections, func(a, b Connection) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(string(a.ID), string(b.ID)))
	})
	return r
}

// Visit implements Store.
func (m *Memory) Visit(ctx context.Context, id VisitID) (*VisitRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	mv, ok := m.visits[id]
	if !ok {
		return nil, fmt.Errorf("storage: memory: visit %s: %w", id, ErrNotFound)
	}
	r := m.record(mv)
	return &r, nil
}

// DeleteVisit implements Store.
func (m *Memory) DeleteVisit(ctx context.Context, id VisitID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	if _, ok := m.visits[id]; !ok {
		return fmt.Errorf("storage: memory: delete visit %s: %w", id, ErrNotFound)
	}
	m.deleteVisit(id)
	return nil
}

// searchKinds lists the searchable kinds, in the order CoOccurring ties
// sort in (by name).
func searchKinds() []FingerprintKind {
	return []FingerprintKind{SearchAkamai, SearchJA3, SearchJA3N, SearchJA4, SearchPeetPrint}
}

// hashOf returns the hash of the given kind in d, and whether kind is
// known.
func hashOf(d *ConnectionFingerprints, kind FingerprintKind) (string, bool) {
	switch kind {
	case SearchJA3:
		return d.TLS.JA3Hash, true
	case SearchJA3N:
		return d.TLS.JA3NHash, true
	case SearchJA4:
		return d.TLS.JA4, true
	case SearchAkamai:
		return d.AkamaiHash, true
	case SearchPeetPrint:
		return d.TLS.PeetPrintHash, true
	}
	return "", false
}

// Search implements Store.
func (m *Memory) Search(ctx context.Context, kind FingerprintKind, hash string) (*SearchResult, error) {
	if _, ok := hashOf(&ConnectionFingerprints{}, kind); !ok {
		return nil, fmt.Errorf("storage: memory: search: unknown fingerprint kind %q", kind)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	res := &SearchResult{Kind: kind, Hash: hash}
	uas, families := map[string]int{}, map[string]int{}
	co := map[KindCount]int{} // Count.Count unused as key
	if hash != "" {
		for _, mo := range m.obs {
			d := m.conns[mo.o.ConnectionID].latest()
			if h, _ := hashOf(d, kind); h != hash {
				continue
			}
			res.Observations++
			at := mo.o.At
			if res.FirstSeen.IsZero() || at.Before(res.FirstSeen) {
				res.FirstSeen = at
			}
			if at.After(res.LastSeen) {
				res.LastSeen = at
			}
			uas[mo.o.UserAgent.Raw]++
			families[mo.o.UserAgent.Browser]++
			for _, k := range searchKinds() {
				if h, _ := hashOf(d, k); k != kind && h != "" {
					co[KindCount{Kind: k, Count: Count{Value: h}}]++
				}
			}
		}
	}
	if res.Observations == 0 {
		return nil, fmt.Errorf("storage: memory: search %s %q: %w", kind, hash, ErrNotFound)
	}
	res.UserAgents, res.Families = sortedCounts(uas), sortedCounts(families)
	for k, n := range co {
		k.Count.Count = n
		res.CoOccurring = append(res.CoOccurring, k)
	}
	slices.SortFunc(res.CoOccurring, func(a, b KindCount) int {
		return cmp.Or(cmp.Compare(b.Count.Count, a.Count.Count), strings.Compare(string(a.Kind), string(b.Kind)),
			strings.Compare(a.Value, b.Value))
	})
	return res, nil
}

// sortedCounts lists counts most first, then by value.
func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for v, n := range m {
		out = append(out, Count{Value: v, Count: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	return out
}

// FamilyTotals implements Store.
func (m *Memory) FamilyTotals(ctx context.Context) ([]FamilyTotal, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	obs := map[string]int{}
	visits := map[string]map[VisitID]bool{}
	for _, mo := range m.obs {
		f := mo.o.UserAgent.Browser
		obs[f]++
		if visits[f] == nil {
			visits[f] = map[VisitID]bool{}
		}
		visits[f][mo.o.VisitID] = true
	}
	out := make([]FamilyTotal, 0, len(obs))
	for f, n := range obs {
		out = append(out, FamilyTotal{Family: f, Visits: len(visits[f]), Observations: n})
	}
	slices.SortFunc(out, func(a, b FamilyTotal) int {
		return cmp.Or(cmp.Compare(b.Observations, a.Observations), strings.Compare(a.Family, b.Family))
	})
	return out, nil
}

// LatestCompleteVisits implements Store: per distinct User-Agent, the
// latest complete fleet visit, else the latest complete public one.
func (m *Memory) LatestCompleteVisits(ctx context.Context) ([]VisitRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	best := map[string]*memVisit{}
	for _, mv := range m.visits {
		ua, ok := m.completeUA(mv)
		if !ok {
			continue
		}
		if cur, ok := best[ua]; !ok || preferVisit(mv.v, cur.v) {
			best[ua] = mv
		}
	}
	out := make([]VisitRecord, 0, len(best))
	for _, mv := range best {
		out = append(out, m.record(mv))
	}
	slices.SortFunc(out, func(a, b VisitRecord) int {
		return cmp.Or(b.Visit.Start.Compare(a.Visit.Start), strings.Compare(string(a.Visit.ID), string(b.Visit.ID)))
	})
	return out, nil
}

// preferVisit reports whether a is the better of two complete visits of
// one User-Agent: the fleet's first, then the later, then the greater id.
func preferVisit(a, b Visit) bool {
	if a.Fleet != b.Fleet {
		return a.Fleet
	}
	if c := a.Start.Compare(b.Start); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// completeUA returns the User-Agent of a visit's first navigation, and
// whether the visit holds an observation of every kind.
func (m *Memory) completeUA(mv *memVisit) (string, bool) {
	seen := map[RequestKind]bool{}
	var first *Observation
	for _, oid := range mv.obs {
		o := &m.obs[oid].o
		seen[o.Kind] = true
		if o.Kind == KindNavigate && (first == nil || o.At.Before(first.At) || (o.At.Equal(first.At) && o.ID < first.ID)) {
			first = o
		}
	}
	for _, k := range Kinds() {
		if !seen[k] {
			return "", false
		}
	}
	return first.UserAgent.Raw, true
}

// Export implements Store.
func (m *Memory) Export(ctx context.Context, w io.Writer, withFleet bool) error {
	m.mu.RLock()
	if err := m.usable(ctx); err != nil {
		m.mu.RUnlock()
		return err
	}
	records := make([]VisitRecord, 0, len(m.visits))
	for _, mv := range m.visits {
		if withFleet || !mv.v.Fleet {
			records = append(records, m.record(mv))
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(records, func(a, b VisitRecord) int {
		return cmp.Or(a.Visit.Start.Compare(b.Visit.Start), strings.Compare(string(a.Visit.ID), string(b.Visit.ID)))
	})
	ew, err := newExportWriter(w, withFleet)
	if err != nil {
		return err
	}
	for i := range records {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("storage: export: %w", err)
		}
		if err := ew.visit(&records[i]); err != nil {
			return err
		}
	}
	return nil
}

// Stale implements Store.
func (m *Memory) Stale(ctx context.Context, version int, after ID, limit int) (*StaleBatch, error) {
	if limit < 1 {
		return nil, fmt.Errorf("storage: memory: stale: limit %d: want at least 1", limit)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	var ids []ID
	for id, mc := range m.conns {
		if ID(id) > after && mc.latest().Version < version {
			ids = append(ids, ID(id))
		}
	}
	for id, mo := range m.obs {
		if ID(id) > after && mo.history[len(mo.history)-1].Version < version {
			ids = append(ids, ID(id))
		}
	}
	slices.Sort(ids)
	page := &StaleBatch{}
	if len(ids) > limit {
		ids = ids[:limit]
		page.Next = ids[limit-1]
	}
	for _, id := range ids {
		if mc, ok := m.conns[ConnectionID(id)]; ok {
			page.Connections = append(page.Connections, mc.connection())
		} else {
			page.Observations = append(page.Observations, m.obs[ObservationID(id)].observation())
		}
	}
	return page, nil
}

// AddDerived implements Store.
func (m *Memory) AddDerived(ctx context.Context, d *DerivedBatch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(ctx); err != nil {
		return err
	}
	for id, f := range d.Connections {
		if mc, ok := m.conns[id]; ok {
			mc.history = addVersion(mc.history, f, func(x ConnectionFingerprints) int { return x.Version })
		}
	}
	for id, f := range d.Observations {
		if mo, ok := m.obs[id]; ok {
			mo.history = addVersion(mo.history, f, func(x ObservationFingerprints) int { return x.Version })
		}
	}
	return nil
}

// addVersion inserts f into a history sorted by version, unless that
// version is there already.
func addVersion[T any](history []T, f T, version func(T) int) []T {
	i, found := slices.BinarySearchFunc(history, version(f), func(x T, v int) int { return cmp.Compare(version(x), v) })
	if found {
		return history
	}
	return slices.Insert(history, i, f)
}

func (m *Memory) connectionHistory(ctx context.Context, id ConnectionID) ([]ConnectionFingerprints, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	mc, ok := m.conns[id]
	if !ok {
		return nil, fmt.Errorf("storage: memory: connection %s: %w", id, ErrNotFound)
	}
	return slices.Clone(mc.history), nil
}

func (m *Memory) observationHistory(ctx context.Context, id ObservationID) ([]ObservationFingerprints, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	mo, ok := m.obs[id]
	if !ok {
		return nil, fmt.Errorf("storage: memory: observation %s: %w", id, ErrNotFound)
	}
	return slices.Clone(mo.history), nil
}

// Ping implements Store: it fails only after Close.
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.usable(ctx)
}

// Close implements Store: it lets go of everything stored.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.conns, m.visits, m.obs, m.visitOrder, m.connOrder = nil, nil, nil, nil, nil
	return nil
}
