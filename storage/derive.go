package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fpwork/fp/fingerprint"
)

// DeriveConnection computes a connection's fingerprints from what is
// stored of it: JA3, JA3N, JA4 (all forms) and PeetPrint from Hello, and
// for HTTP/2 the Akamai fingerprint from HTTP2Preface and
// PseudoHeaderOrder. The live services compute the same values from the
// same bytes.
func DeriveConnection(c *Connection) (ConnectionFingerprints, error) {
	d := ConnectionFingerprints{Version: fingerprint.AlgorithmVersion}
	ch, err := fingerprint.ParseClientHello(c.Hello)
	if err != nil {
		return d, fmt.Errorf("storage: connection %s: hello: %w", c.ID, err)
	}
	d.TLS = fingerprint.ComputeTLS(ch, c.Transport)
	if len(c.HTTP2Preface) > 0 {
		conn, err := fingerprint.ParseHTTP2Client(c.HTTP2Preface, fingerprint.DefaultHTTP2Limits())
		if err != nil {
			return d, fmt.Errorf("storage: connection %s: HTTP/2 preface: %w", c.ID, err)
		}
		// The preface ends where the first HEADERS frame began; that frame
		// contributes only its pseudo-header order.
		first := &fingerprint.HTTPRequest{Version: fingerprint.HTTP2}
		for _, name := range c.PseudoHeaderOrder {
			first.Headers = append(first.Headers, fingerprint.Header{Name: name})
		}
		conn.First, conn.FirstHeaders = first, conn.FrameCount
		d.Akamai = fingerprint.Akamai(conn)
		d.AkamaiHash = fingerprint.MD5Hex(d.Akamai)
	}
	return d, nil
}

// ErrNotRebuildable: a stored value cannot be recomputed from what is
// kept (JA4H of a request that carried cookies: their values are not
// stored).
var ErrNotRebuildable = errors.New("storage: not rebuildable from what is stored")

// DeriveObservation computes JA4H (all forms) from the stored request. A
// request that carried a Cookie header gives ErrNotRebuildable: JA4H
// hashes the cookie values, which redaction removed.
func DeriveObservation(o *Observation) (ObservationFingerprints, error) {
	r := &fingerprint.HTTPRequest{Method: o.Method, Version: parseHTTPVersion(o.HTTPVersion)}
	for _, h := range o.Headers {
		if strings.EqualFold(h.Name, "cookie") {
			return ObservationFingerprints{}, fmt.Errorf("storage: observation %s: JA4H: %w", o.ID, ErrNotRebuildable)
		}
		r.Headers = append(r.Headers, fingerprint.Header{Name: h.Name, Value: h.Value})
	}
	j := fingerprint.JA4HAll(r)
	return ObservationFingerprints{Version: fingerprint.AlgorithmVersion,
		JA4H: j[fingerprint.JA4HHashed], JA4HR: j[fingerprint.JA4HRaw], JA4HRO: j[fingerprint.JA4HRawOriginal]}, nil
}

func parseHTTPVersion(s string) fingerprint.HTTPVersion {
	switch s {
	case "HTTP/1.0":
		return fingerprint.HTTP10
	case "HTTP/1.1":
		return fingerprint.HTTP11
	case "HTTP/2", "HTTP/2.0":
		return fingerprint.HTTP2
	case "HTTP/3", "HTTP/3.0":
		return fingerprint.HTTP3
	}
	return fingerprint.HTTPUnknown
}

// RecomputeResult counts what a Recompute run did.
type RecomputeResult struct {
	Connections  int // re-derived
	Observations int // re-derived
	Skipped      int // not rebuildable (ErrNotRebuildable) or unparsable; left as they are
}

// Recompute re-derives every stored fingerprint whose version is older
// than fingerprint.AlgorithmVersion, batchSize rows at a time, adding the
// new values as new rows (the old stay as history). progress, when set,
// is called after each batch.
func Recompute(ctx context.Context, s Store, batchSize int, progress func(RecomputeResult)) (RecomputeResult, error) {
	var res RecomputeResult
	var cursor ID
	for {
		page, err := s.Stale(ctx, fingerprint.AlgorithmVersion, cursor, batchSize)
		if err != nil {
			return res, err
		}
		d := &DerivedBatch{Connections: map[ConnectionID]ConnectionFingerprints{},
			Observations: map[ObservationID]ObservationFingerprints{}}
		for i := range page.Connections {
			c := &page.Connections[i]
			if v, err := DeriveConnection(c); err == nil {
				d.Connections[c.ID] = v
			} else {
				res.Skipped++
			}
		}
		for i := range page.Observations {
			o := &page.Observations[i]
			if v, err := DeriveObservation(o); err == nil {
				d.Observations[o.ID] = v
			} else {
				res.Skipped++
			}
		}
		if len(d.Connections)+len(d.Observations) > 0 {
			if err := s.AddDerived(ctx, d); err != nil {
				return res, err
			}
		}
		res.Connections += len(d.Connections)
		res.Observations += len(d.Observations)
		if progress != nil {
			progress(res)
		}
		if page.Next == "" {
			return res, nil
		}
		cursor = page.Next
	}
}
