package capture

import (
	"context"
	"math"
	"net/http"

	"github.com/fpwork/fp/fingerprint"
)

// Claimed is a request's record, claimed from its connection.
type Claimed struct {
	Record *fingerprint.HTTPRequest // nil when none was found
	Match  StreamMatch              // HTTP/2 only
}

type claimedKey struct{}

// ClaimRecords claims every request's record from its connection before
// next runs; handlers get it with ClaimedFor.
// Claiming every request, whatever handler then serves it, is what keeps
// a connection's records in step with net/http: HTTP/1 heads are claimed
// in order, and HTTP/2 records are released once claimed and ended. Put it
// outermost, inside only what takes the connection away from net/http.
func ClaimRecords(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc, ok := PlainFromContext(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.ProtoMajor != 2 {
			// HTTP/1 serves one request at a time per connection: the claim
			// is kept on the connection, with no copy of the request.
			rec, _ := pc.ClaimHTTP1(r)
			pc.mu.Lock()
			pc.h1Claim, pc.h1Claimed = Claimed{Record: rec}, true
			pc.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		c := &Claimed{}
		c.Record, c.Match = pc.ClaimHTTP2(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimedKey{}, c)))
	})
}

// ClaimedFor returns what ClaimRecords claimed for r (false when it did
// not run for r).
func ClaimedFor(r *http.Request) (Claimed, bool) {
	if r.ProtoMajor == 2 {
		c, ok := r.Context().Value(claimedKey{}).(*Claimed)
		if !ok {
			return Claimed{}, false
		}
		return *c, true
	}
	pc, ok := PlainFromContext(r.Context())
	if !ok {
		return Claimed{}, false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	// Only a connection ClaimRecords has served has an HTTP/1 claim; an
	// HTTP/1 request with no record found has a zero Claimed, set.
	return pc.h1Claim, pc.h1Claimed
}

// liveHTTP1Limits are the HTTP/1 parser's limits on a live connection:
// heads leave the queue as they are claimed, so the count of requests on
// one connection needs no bound of its own.
func liveHTTP1Limits() fingerprint.HTTP1Limits {
	lim := fingerprint.DefaultHTTP1Limits()
	lim.MaxRequests = math.MaxInt
	return lim
}
