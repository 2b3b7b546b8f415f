package fingerprint

// TLSFingerprints holds every TLS client fingerprint of one hello, with
// the JSON names the services and fp analyze print.
type TLSFingerprints struct {
	JA3           string `json:"ja3"`
	JA3Hash       string `json:"ja3_hash"`
	JA3N          string `json:"ja3n"`
	JA3NHash      string `json:"ja3n_hash"`
	JA4           string `json:"ja4"`
	JA4R          string `json:"ja4_r"`
	JA4O          string `json:"ja4_o"`
	JA4RO         string `json:"ja4_ro"`
	PeetPrint     string `json:"peetprint"`
	PeetPrintHash string `json:"peetprint_hash"`
}

// ComputeTLS computes all TLS fingerprints of a hello sent over t.
func ComputeTLS(ch *ClientHello, t Transport) TLSFingerprints {
	var buf [2048]byte
	var f TLSFingerprints
	b := appendJA3(buf[:0], ch, false)
	f.JA3, f.JA3Hash = string(b), md5Hex(b)
	b = appendJA3(buf[:0], ch, true)
	f.JA3N, f.JA3NHash = string(b), md5Hex(b)
	ja4 := JA4All(ch, t)
	f.JA4, f.JA4R, f.JA4O, f.JA4RO = ja4[JA4Hashed], ja4[JA4Raw], ja4[JA4Original], ja4[JA4RawOriginal]
	b = appendPeetPrint(buf[:0], ch)
	f.PeetPrint, f.PeetPrintHash = string(b), md5Hex(b)
	return f
}

// HTTPFingerprints holds the fingerprints of one HTTP request; the Akamai
// fields are set for HTTP/2 requests and are those of the connection.
type HTTPFingerprints struct {
	JA4H       string `json:"ja4h"`
	JA4HR      string `json:"ja4h_r"`
	JA4HRO     string `json:"ja4h_ro"`
	Akamai     string `json:"akamai,omitempty"`
	AkamaiHash string `json:"akamai_hash,omitempty"`
}

// ComputeHTTP computes the fingerprints of request r; conn is the HTTP/2
// connection it came on, or nil.
func ComputeHTTP(r *HTTPRequest, conn *HTTP2Conn) HTTPFingerprints {
	j := JA4HAll(r)
	f := HTTPFingerprints{JA4H: j[JA4HHashed], JA4HR: j[JA4HRaw], JA4HRO: j[JA4HRawOriginal]}
	if conn != nil {
		f.Akamai = Akamai(conn)
		f.AkamaiHash = MD5Hex(f.Akamai)
	}
	return f
}

// AlgorithmVersion stamps stored fingerprints. Raise it whenever any
// fingerprint's output changes for the same input, so that `fp recompute`
// rebuilds the stored ones.
const AlgorithmVersion = 1
