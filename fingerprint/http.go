package fingerprint

// HTTPVersion is the protocol version of a request.
type HTTPVersion uint8

// HTTP versions.
const (
	HTTPUnknown HTTPVersion = iota
	HTTP10
	HTTP11
	HTTP2
	HTTP3
)

// String returns "1.0", "1.1", "2", "3" (the form of the JSON field
// http_version), or "" when unknown.
func (v HTTPVersion) String() string {
	switch v {
	case HTTP10:
		return "1.0"
	case HTTP11:
		return "1.1"
	case HTTP2:
		return "2"
	case HTTP3:
		return "3"
	}
	return ""
}

// Header is one header field as sent: the name in its original case, the
// value with surrounding whitespace removed. HTTP/2 and HTTP/3
// pseudo-headers keep their leading ':'.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HTTPRequest is one request of an HTTP/1, HTTP/2 or HTTP/3 client, the
// view JA4H is computed from.
type HTTPRequest struct {
	Version HTTPVersion
	Method  string
	// Target is the request-target (HTTP/1) or :path (HTTP/2, HTTP/3).
	Target string
	// Headers in wire order, pseudo-headers included for HTTP/2 and HTTP/3.
	Headers []Header
	// Offset of the request in the parsed stream: the start of the head
	// (HTTP/1) or of its HEADERS frame (HTTP/2).
	Offset int

	// HTTP/1 only.
	Proto string // the version token exactly as sent, e.g. "HTTP/1.1"
	Raw   []byte // the head, request line through the blank line; aliases the input

	// HTTP/2 only.
	StreamID  uint32
	Priority  *HTTP2Priority // the HEADERS frame's priority fields, when flagged
	EndStream bool

	Anomalies []Anomaly
}

// PseudoHeaderOrder returns the pseudo-header names in wire order.
func (r *HTTPRequest) PseudoHeaderOrder() []string {
	var out []string
	for _, h := range r.Headers {
		if len(h.Name) > 0 && h.Name[0] == ':' {
			out = append(out, h.Name)
		}
	}
	return out
}
