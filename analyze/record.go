package analyze

import "github.com/fpwork/fp/fingerprint"

// Kind names what a record describes, and what a raw input holds.
type Kind string

// Record kinds.
const (
	KindTLS  Kind = "tls"
	KindHTTP Kind = "http"
)

// Input kinds a raw file can hold.
const (
	InputTLS   = "tls"
	InputHTTP1 = "http1"
	InputHTTP2 = "http2"
)

// Record is one line of fp analyze output. Field names are a public
// interface: other tools parse them.
type Record struct {
	File string `json:"file"`
	Kind Kind   `json:"kind"`
	// Capture files only: the client and server as ip:port, the transport
	// ("tcp", "udp"), the 0-based stream number as tshark counts tcp.stream
	// and udp.stream, and the time of the first segment of the hello or
	// request (RFC 3339 with nanoseconds).
	Src       string `json:"src,omitempty"`
	Dst       string `json:"dst,omitempty"`
	Transport string `json:"transport,omitempty"`
	Stream    *int   `json:"stream,omitempty"`
	// Index is the 1-based hello or request within the input (raw files)
	// or within the stream (captures).
	Index int    `json:"index"`
	Time  string `json:"time,omitempty"`
	*TLSRecord
	*HTTPRecord
	Anomalies []fingerprint.Anomaly `json:"anomalies,omitempty"`
}

// TLSRecord holds the fields of a kind "tls" record.
type TLSRecord struct {
	SNI  string   `json:"sni"`
	ALPN []string `json:"alpn"`
	fingerprint.TLSFingerprints
}

// HTTPRecord holds the fields of a kind "http" record.
type HTTPRecord struct {
	HTTPVersion string `json:"http_version"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	fingerprint.HTTPFingerprints
}

func tlsRecord(file string, index int, ch *fingerprint.ClientHello, t fingerprint.Transport) Record {
	// A copy: ch may be reused for the next hello.
	alpn := append([]string{}, ch.ALPN...)
	return Record{
		File: file, Kind: KindTLS, Index: index,
		TLSRecord: &TLSRecord{SNI: ch.ServerName, ALPN: alpn, TLSFingerprints: fingerprint.ComputeTLS(ch, t)},
		Anomalies: ch.Anomalies,
	}
}

func httpRecord(file string, index int, r *fingerprint.HTTPRequest, conn *fingerprint.HTTP2Conn) Record {
	return Record{
		File: file, Kind: KindHTTP, Index: index,
		HTTPRecord: &HTTPRecord{
			HTTPVersion:      r.Version.String(),
			Method:           r.Method,
			Path:             r.Target,
			HTTPFingerprints: fingerprint.ComputeHTTP(r, conn),
		},
		Anomalies: r.Anomalies,
	}
}
