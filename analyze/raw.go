package analyze

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fpwork/fp/fingerprint"
)

// Raw analyses raw byte inputs: a TLS hello file, an HTTP/1 client stream
// or an HTTP/2 client stream.
type Raw struct {
	HTTP1 fingerprint.HTTP1Limits
	HTTP2 fingerprint.HTTP2Limits
}

// NewRaw returns a Raw analyser with the default limits.
func NewRaw() *Raw {
	return &Raw{HTTP1: fingerprint.DefaultHTTP1Limits(), HTTP2: fingerprint.DefaultHTTP2Limits()}
}

// InputError names the input and the offset where it could not be read.
type InputError struct {
	File string
	Err  error
}

func (e *InputError) Error() string {
	var pe *fingerprint.ParseError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("%s: offset %d: %s %s", e.File, pe.Offset, pe.Parser, pe.Msg)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Sniff guesses what a raw input holds from its first bytes: a TLS
// record or handshake message, the HTTP/2 preface, or else HTTP/1.
func Sniff(b []byte) string {
	switch {
	case len(b) > 0 && (b[0] == 0x16 || b[0] == 0x01):
		return InputTLS
	case bytes.HasPrefix(b, []byte("PRI * HTTP/2.0")):
		return InputHTTP2
	}
	return InputHTTP1
}

// Analyse reads input b of the given kind (InputTLS, InputHTTP1,
// InputHTTP2). It returns the records read before any error; the error
// is an *InputError.
func (a *Raw) Analyse(file, kind string, b []byte) ([]Record, error) {
	switch kind {
	case InputTLS:
		return a.tls(file, b)
	case InputHTTP1:
		return a.http1(file, b)
	case InputHTTP2:
		recs, _, err := a.http2(file, b, 0, 0)
		return recs, err
	}
	return nil, &InputError{File: file, Err: fmt.Errorf("analyze: unknown input kind %q", kind)}
}

// tls reads one or more hellos (a HelloRetryRequest makes a second one).
func (a *Raw) tls(file string, b []byte) ([]Record, error) {
	var recs []Record
	off := 0
	for off < len(b) {
		if len(recs) > 0 {
			// After a HelloRetryRequest a client may send a ChangeCipherSpec
			// record (middlebox compatibility) before its second hello.
			off += changeCipherSpecLen(b[off:])
			if off == len(b) {
				break
			}
		}
		ch, err := fingerprint.ParseClientHello(b[off:])
		if err != nil {
			if len(recs) > 0 && errors.Is(err, fingerprint.ErrNotClientHello) {
				break // what follows the hellos is not ours to read
			}
			return recs, &InputError{File: file, Err: shift(err, off)}
		}
		recs = append(recs, tlsRecord(file, len(recs)+1, ch, fingerprint.TransportTCP))
		off += ch.Consumed
	}
	if len(recs) == 0 {
		return nil, &InputError{File: file, Err: fingerprint.ErrTruncated}
	}
	return recs, nil
}

// changeCipherSpecLen returns the length of the ChangeCipherSpec record at
// the start of b, or 0 when there is none.
func changeCipherSpecLen(b []byte) int {
	const recordTypeCCS, headerLen = 20, 5
	if len(b) < headerLen+1 || b[0] != recordTypeCCS {
		return 0
	}
	n := headerLen + (int(b[3])<<8 | int(b[4]))
	if n > len(b) || n > headerLen+1 {
		return 0
	}
	return n
}

func (a *Raw) http1(file string, b []byte) ([]Record, error) {
	st, err := fingerprint.ParseHTTP1Stream(b, a.HTTP1)
	var recs []Record
	for i, r := range st.Requests {
		recs = append(recs, httpRecord(file, i+1, r, nil))
	}
	if err != nil {
		return recs, &InputError{File: file, Err: err}
	}
	if st.Switched {
		// Prior knowledge or an h2c upgrade: HTTP/2 follows.
		h2, _, err := a.http2(file, b[st.Consumed:], st.Consumed, len(recs))
		return append(recs, h2...), err
	}
	return recs, nil
}

func (a *Raw) http2(file string, b []byte, base, index int) ([]Record, *fingerprint.HTTP2Conn, error) {
	conn, err := fingerprint.ParseHTTP2Client(b, a.HTTP2)
	var recs []Record
	for i, r := range conn.Requests {
		index++
		rec := httpRecord(file, index, r, conn)
		if i == 0 && len(conn.Anomalies) > 0 {
			// Connection-level anomalies go on the connection's first request.
			rec.Anomalies = append(append([]fingerprint.Anomaly(nil), conn.Anomalies...), rec.Anomalies...)
		}
		recs = append(recs, rec)
	}
	if err != nil {
		return recs, conn, &InputError{File: file, Err: shift(err, base)}
	}
	return recs, conn, nil
}

func shift(err error, by int) error {
	var pe *fingerprint.ParseError
	if errors.As(err, &pe) {
		pe.Offset += by
	}
	return err
}
