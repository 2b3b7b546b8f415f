package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of the stores.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrBadID    = errors.New("storage: malformed id")
)

// Store is where observations are kept. Both implementations (Postgres,
// Memory) pass the same contract suite.
type Store interface {
	// Write stores a batch in one transaction; rows whose ID is already
	// stored are skipped.
	Write(ctx context.Context, b *Batch) error
	// Search returns what was seen with one fingerprint hash.
	Search(ctx context.Context, kind FingerprintKind, hash string) (*SearchResult, error)
	// FamilyTotals counts observations and visits per browser family.
	FamilyTotals(ctx context.Context) ([]FamilyTotal, error)
	// LatestCompleteVisits returns, per distinct User-Agent, its latest
	// visit holding an observation of every RequestKind, with its
	// observations and their connections (what profile generation needs).
	LatestCompleteVisits(ctx context.Context) ([]VisitRecord, error)
	// Visit returns one visit with its observations and connections.
	Visit(ctx context.Context, id VisitID) (*VisitRecord, error)
	// DeleteVisit removes a visit and its observations (and the
	// connections no other visit uses); ErrNotFound when there is none.
	DeleteVisit(ctx context.Context, id VisitID) error
	// Export writes the public dataset (visits not from the fleet, and
	// fleet ones too when withFleet) as JSON lines after a licence header
	// line.
	Export(ctx context.Context, w io.Writer, withFleet bool) error
	// Stale returns up to limit connections and observations whose
	// derived values are older than version, after the given cursor (the
	// empty cursor starts at the beginning), for Recompute.
	Stale(ctx context.Context, version int, after ID, limit int) (*StaleBatch, error)
	// AddDerived stores newly computed fingerprints (new rows; the old
	// ones stay as history).
	AddDerived(ctx context.Context, d *DerivedBatch) error
	// Ping reports whether the store can be written.
	Ping(ctx context.Context) error
	Close() error
}

// FingerprintKind names the fingerprints Search takes.
type FingerprintKind string

// The searchable fingerprints (their hashed forms).
const (
	SearchJA3       FingerprintKind = "ja3"
	SearchJA3N      FingerprintKind = "ja3n"
	SearchJA4       FingerprintKind = "ja4"
	SearchAkamai    FingerprintKind = "akamai"
	SearchPeetPrint FingerprintKind = "peetprint"
)

// SearchResult is what was seen with one fingerprint.
type SearchResult struct {
	Kind         FingerprintKind
	Hash         string
	Observations int
	FirstSeen    time.Time
	LastSeen     time.Time
	UserAgents   []Count // raw User-Agent strings, most seen first
	Families     []Count // browser families, most seen first
	// CoOccurring are the other fingerprints seen on the same connections
	// (kind "ja3", "ja4", ...), most seen first.
	CoOccurring []KindCount
}

// Count is a value and how many observations had it.
type Count struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// KindCount is a fingerprint of some kind and how many observations had it.
type KindCount struct {
	Kind FingerprintKind `json:"kind"`
	Count
}

// FamilyTotal counts one browser family's observations and visits.
type FamilyTotal struct {
	Family       string `json:"family"`
	Visits       int    `json:"visits"`
	Observations int    `json:"observations"`
}

// VisitRecord is a visit with its observations (in time order) and the
// connections they came on.
type VisitRecord struct {
	Visit        Visit
	Observations []Observation
	Connections  []Connection
}

// StaleBatch is a page of rows whose derived values need recomputing.
type StaleBatch struct {
	Connections  []Connection
	Observations []Observation
	Next         ID // the cursor for the next page; "" at the end
}

// DerivedBatch holds recomputed fingerprints, keyed by row.
type DerivedBatch struct {
	Connections  map[ConnectionID]ConnectionFingerprints
	Observations map[ObservationID]ObservationFingerprints
}
