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
// next runs, and puts it in the request's context (ClaimedFromContext).
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
		var c Claimed
		if r.ProtoMajor == 2 {
			c.Record, c.Match = pc.ClaimHTTP2(r)
		} else {
			c.Record, _ = pc.ClaimHTTP1(r)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimedKey{}, &c)))
	})
}

// ClaimedFromContext returns what ClaimRecords claimed for the request
// whose context ctx is.
func ClaimedFromContext(ctx context.Context) (*Claimed, bool) {
	c, ok := ctx.Value(claimedKey{}).(*Claimed)
	return c, ok
}

// liveHTTP1Limits are the HTTP/1 parser's limits on a live connection:
// heads leave the queue as they are claimed, so the count of requests on
// one connection needs no bound of its own.
func liveHTTP1Limits() fingerprint.HTTP1Limits {
	lim := fingerprint.DefaultHTTP1Limits()
	lim.MaxRequests = math.MaxInt
	return lim
}
