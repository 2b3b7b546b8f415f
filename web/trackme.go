package web

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
)

// The /api/all and /api/tls answers have the JSON shape of the best-known
// public echo, tls.peet.ws (open source as TrackMe): its field names,
// types and nesting, so a client written for it decodes ours. The values
// are ours. Where they deliberately differ from what that service prints:
//
//   - ja4, ja4_r: per docs/fingerprints.md. TrackMe takes the version from
//     the negotiated version instead of supported_versions, always writes
//     "d" for SNI, does not zero-pad the counts, maps ALPN to h2/h1 (and
//     writes nothing without ALPN) instead of the first and last
//     characters of the first protocol or "00".
//   - http2.akamai_fingerprint: per docs/fingerprints.md. TrackMe writes a
//     setting it has no name for (8, GREASE ids) without its id (":1"),
//     takes the first WINDOW_UPDATE on any stream and every PRIORITY frame
//     up to the first END_STREAM, and writes :protocol as "p".
//   - peetprint: per docs/fingerprints.md (GREASE signature algorithms as
//     numbers; later TrackMe versions write them as GREASE).
//   - tls_version_record: the ClientHello's legacy_version, as TrackMe
//     fills it (the field name notwithstanding); the record layer's
//     version is tls.record_version in the full report.
//   - tls.ciphers and tls.extensions names come from our tables: IANA
//     names ("x25519 (29)" where TrackMe prints "X25519 (29)";
//     "renegotiation_info (65281)" where it prints
//     "extensionRenegotiationInfo (boringssl) (65281)"; 0x00ff is
//     TLS_EMPTY_RENEGOTIATION_INFO_SCSV and 0x5600 TLS_FALLBACK_SCSV,
//     which it names TLS_EMPTY_RENEGOTIATION_INFO and
//     TLS_EMPTY_RENEGOTIATION_INFO_SCSV), our UNKNOWN_<n> for an unknown
//     extension, group or certificate compression algorithm, 0x%04X for a
//     suite we cannot name.
//   - tls.extensions values: padding_data_length counts bytes (TrackMe
//     counts hex digits); signature_algorithms_cert (50) is decoded
//     (TrackMe keys its decoder on 53) and status_request_v2 (17) is not;
//     a GREASE signature algorithm prints as "TLS_GREASE (0x....)";
//     status_request carries only certificate_status_type, as "OCSP (1)"
//     (TrackMe reads the two list lengths from the wrong bytes); mode 0 of
//     PSK_Key_Exchange_Mode is named psk_ke, as in RFC 8446.
//   - user_agent: the first User-Agent header (TrackMe: the last).
//   - http2.sent_frames: the frames through this request's HEADERS, then
//     its stream's CONTINUATION and DATA frames through END_STREAM;
//     header values as sent (TrackMe escapes them with %q); DATA payloads
//     and GOAWAY details are not kept.
//   - http1.headers: the header lines of the head as parsed, "Name: Value".
//   - tcpip and http3 are absent: the echo sees neither TCP/IP headers
//     nor HTTP/3.

// trackMeDonate fills TrackMe's "donate" field, which carries a plea on
// tls.peet.ws; here it says whose answer this is.
const trackMeDonate = "fp echo: an answer in the shape of tls.peet.ws; values per the fp fingerprint spec"

// TrackMeReport is the /api/all answer; /api/tls is the same with only
// TLS set.
type TrackMeReport struct {
	Donate      string        `json:"donate"`
	IP          string        `json:"ip"` // host:port of the client
	HTTPVersion string        `json:"http_version"`
	Method      string        `json:"method"`
	UserAgent   string        `json:"user_agent,omitempty"`
	TLS         *TrackMeTLS   `json:"tls"`
	HTTP1       *TrackMeHTTP1 `json:"http1,omitempty"`
	HTTP2       *TrackMeHTTP2 `json:"http2,omitempty"`
}

// TrackMeTLS is the TLS part: the hello and its fingerprints.
type TrackMeTLS struct {
	Ciphers              []string           `json:"ciphers"`
	Extensions           []TrackMeExtension `json:"extensions"`
	TLSVersionRecord     string             `json:"tls_version_record"`     // decimal
	TLSVersionNegotiated string             `json:"tls_version_negotiated"` // decimal
	JA3                  string             `json:"ja3"`
	JA3Hash              string             `json:"ja3_hash"`
	JA4                  string             `json:"ja4"`
	JA4R                 string             `json:"ja4_r"`
	PeetPrint            string             `json:"peetprint"`
	PeetPrintHash        string             `json:"peetprint_hash"`
	ClientRandom         string             `json:"client_random"` // hex
	SessionID            string             `json:"session_id"`    // hex
}

// TrackMeExtension is one extension: its name ("<name> (<id>)", or
// "TLS_GREASE (0x<id>)") and the fields TrackMe prints for its type; an
// extension it does not decode carries its body as hex in Data.
type TrackMeExtension struct {
	Name                     string                `json:"name"`
	ServerName               *string               `json:"server_name,omitzero"`
	StatusRequest            *TrackMeStatusRequest `json:"status_request,omitzero"`
	SupportedGroups          []string              `json:"supported_groups,omitzero"`
	PointFormats             []string              `json:"elliptic_curves_point_formats,omitzero"`
	SignatureAlgorithms      []string              `json:"signature_algorithms,omitzero"`
	Protocols                []string              `json:"protocols,omitzero"` // ALPN, ALPS
	PaddingDataLength        *int                  `json:"padding_data_length,omitzero"`
	MasterSecretData         *string               `json:"master_secret_data,omitzero"`
	ExtendedMasterSecretData *string               `json:"extended_master_secret_data,omitzero"`
	Algorithms               []string              `json:"algorithms,omitzero"` // compress_certificate
	SignatureHashAlgorithms  []string              `json:"signature_hash_algorithms,omitzero"`
	Versions                 []string              `json:"versions,omitzero"`
	PSKKeyExchangeMode       *string               `json:"PSK_Key_Exchange_Mode,omitzero"`
	SharedKeys               []map[string]string   `json:"shared_keys,omitzero"` // group name: key hex
	Data                     *string               `json:"data,omitzero"`
}

// TrackMeStatusRequest is status_request's decoded part.
type TrackMeStatusRequest struct {
	CertificateStatusType string `json:"certificate_status_type"`
}

// TrackMeHTTP1 is the HTTP/1 part.
type TrackMeHTTP1 struct {
	Headers []string `json:"headers"` // "Name: Value", wire order and case
}

// TrackMeHTTP2 is the HTTP/2 part.
type TrackMeHTTP2 struct {
	AkamaiFingerprint     string         `json:"akamai_fingerprint"`
	AkamaiFingerprintHash string         `json:"akamai_fingerprint_hash"`
	SentFrames            []TrackMeFrame `json:"sent_frames"`
}

// TrackMeFrame is one frame the client sent.
type TrackMeFrame struct {
	Type      string           `json:"frame_type,omitempty"`
	StreamID  uint32           `json:"stream_id,omitempty"`
	Length    uint32           `json:"length,omitempty"`
	Headers   []string         `json:"headers,omitempty"`  // HEADERS: "name: value" in order
	Settings  []string         `json:"settings,omitempty"` // SETTINGS: "NAME = value" in order
	Increment uint32           `json:"increment,omitempty"`
	Flags     []string         `json:"flags,omitempty"`
	Priority  *TrackMePriority `json:"priority,omitempty"`
}

// TrackMePriority is a PRIORITY frame's, or a HEADERS frame's, priority.
type TrackMePriority struct {
	Weight    int `json:"weight"` // 1..256
	DependsOn int `json:"depends_on"`
	Exclusive int `json:"exclusive"` // 0 or 1
}

// APIAll answers /api/all.
func (e *Echo) APIAll(w http.ResponseWriter, r *http.Request) {
	rep, rec := e.report(r)
	writeJSON(w, trackMe(&rep, r, rec))
}

// APITLS answers /api/tls: the TLS part of /api/all alone, the other
// top-level fields empty, as tls.peet.ws answers it.
func (e *Echo) APITLS(w http.ResponseWriter, r *http.Request) {
	rep, rec := e.report(r)
	writeJSON(w, TrackMeReport{TLS: trackMe(&rep, r, rec).TLS})
}

// trackMe builds the /api/all answer from a report, its request and its
// capture record (nil when there is none).
func trackMe(rep *Report, r *http.Request, rec *fingerprint.HTTPRequest) TrackMeReport {
	out := TrackMeReport{Donate: trackMeDonate, IP: r.RemoteAddr, HTTPVersion: r.Proto, Method: r.Method}
	for _, h := range rep.HTTP.Headers {
		if strings.EqualFold(h[0], "user-agent") {
			out.UserAgent = h[1]
			break
		}
	}
	pc, _ := capture.PlainFromContext(r.Context())
	if pc != nil && pc.TLS() != nil {
		if ch, _, err := pc.Hello().ClientHello(); err == nil {
			build := func() *TrackMeTLS { return trackMeTLS(ch, pc.TLS(), rep.Fingerprints.TLSFingerprints) }
			if rep.conn != nil {
				out.TLS = rep.conn.trackMeTLS(build) // the same for every request of the connection
			} else {
				out.TLS = build()
			}
		}
	}
	if r.ProtoMajor == 2 {
		out.HTTPVersion = "h2"
		out.HTTP2 = &TrackMeHTTP2{AkamaiFingerprint: rep.Fingerprints.Akamai, AkamaiFingerprintHash: rep.Fingerprints.AkamaiHash,
			SentFrames: []TrackMeFrame{}}
		if pc != nil && rec != nil {
			pc.WithHTTP2(func(c *fingerprint.HTTP2Conn) { out.HTTP2.SentFrames = trackMeFrames(c, rec) })
		}
		return out
	}
	out.HTTP1 = &TrackMeHTTP1{Headers: []string{}}
	for _, h := range rep.HTTP.Headers {
		out.HTTP1.Headers = append(out.HTTP1.Headers, h[0]+": "+h[1])
	}
	return out
}

func trackMeTLS(ch *fingerprint.ClientHello, state *tls.ConnectionState, fp fingerprint.TLSFingerprints) *TrackMeTLS {
	t := &TrackMeTLS{Ciphers: make([]string, 0, len(ch.CipherSuites)), Extensions: make([]TrackMeExtension, 0, len(ch.Extensions)),
		TLSVersionRecord: strconv.Itoa(int(ch.LegacyVersion)), TLSVersionNegotiated: strconv.Itoa(int(state.Version)),
		JA3: fp.JA3, JA3Hash: fp.JA3Hash, JA4: fp.JA4, JA4R: fp.JA4R, PeetPrint: fp.PeetPrint, PeetPrintHash: fp.PeetPrintHash,
		ClientRandom: hex.EncodeToString(ch.Random), SessionID: hex.EncodeToString(ch.SessionID)}
	for _, c := range ch.CipherSuites {
		switch name := c.String(); {
		case fingerprint.IsGREASE(uint16(c)):
			t.Ciphers = append(t.Ciphers, fmt.Sprintf("TLS_GREASE (0x%04X)", uint16(c)))
		case strings.HasPrefix(name, "UNKNOWN_"):
			t.Ciphers = append(t.Ciphers, fmt.Sprintf("0x%04X", uint16(c)))
		default:
			t.Ciphers = append(t.Ciphers, name)
		}
	}
	seen := map[fingerprint.ExtensionType]bool{}
	for _, x := range ch.Extensions {
		decoded := !seen[x.Type] && !malformed(ch, x)
		seen[x.Type] = true
		t.Extensions = append(t.Extensions, trackMeExtension(ch, x, decoded))
	}
	return t
}

// trackMeExtension is one extension in TrackMe's shape, from the parser's
// decoded fields when decoded is set (the first of its type, well formed).
func trackMeExtension(ch *fingerprint.ClientHello, x fingerprint.Extension, decoded bool) TrackMeExtension {
	if x.GREASE() {
		return TrackMeExtension{Name: fmt.Sprintf("TLS_GREASE (0x%04x)", uint16(x.Type))}
	}
	e := TrackMeExtension{Name: fmt.Sprintf("%s (%d)", x.Type, uint16(x.Type))}
	if !decoded {
		e.Data = ptr(hex.EncodeToString(x.Data))
		return e
	}
	switch x.Type {
	case fingerprint.ExtServerName:
		e.ServerName = ptr(ch.ServerName)
	case fingerprint.ExtStatusRequest:
		name := "UNKNOWN_" + strconv.Itoa(int(ch.StatusRequestType))
		if ch.StatusRequestType == 1 {
			name = "OCSP"
		}
		e.StatusRequest = &TrackMeStatusRequest{CertificateStatusType: fmt.Sprintf("%s (%d)", name, ch.StatusRequestType)}
	case fingerprint.ExtSupportedGroups:
		e.SupportedGroups = make([]string, 0, len(ch.SupportedGroups))
		for _, g := range ch.SupportedGroups {
			e.SupportedGroups = append(e.SupportedGroups, trackMeGroup(g))
		}
	case fingerprint.ExtECPointFormats:
		e.PointFormats = make([]string, 0, len(ch.ECPointFormats))
		for _, f := range ch.ECPointFormats {
			e.PointFormats = append(e.PointFormats, fmt.Sprintf("0x%02x", f))
		}
	case fingerprint.ExtSignatureAlgorithms:
		e.SignatureAlgorithms = trackMeSigAlgs(ch.SignatureAlgorithms)
	case fingerprint.ExtSignatureAlgorithmsCert:
		e.SignatureAlgorithms = trackMeSigAlgs(ch.SignatureAlgorithmsCert)
	case fingerprint.ExtDelegatedCredentials:
		e.SignatureHashAlgorithms = trackMeSigAlgs(ch.DelegatedCredentials)
	case fingerprint.ExtALPN:
		e.Protocols = append([]string{}, ch.ALPN...)
	case fingerprint.ExtApplicationSettings, fingerprint.ExtApplicationSettingsOld:
		if ch.ApplicationSettingsType != x.Type {
			e.Data = ptr(hex.EncodeToString(x.Data))
			break
		}
		e.Protocols = append([]string{}, ch.ApplicationSettings...)
	case fingerprint.ExtPadding:
		e.PaddingDataLength = ptr(ch.PaddingLen)
	case fingerprint.ExtExtendedMasterSecret:
		e.MasterSecretData, e.ExtendedMasterSecretData = ptr(hex.EncodeToString(x.Data)), ptr("")
	case fingerprint.ExtCompressCertificate:
		e.Algorithms = make([]string, 0, len(ch.CertCompressionAlgs))
		for _, a := range ch.CertCompressionAlgs {
			e.Algorithms = append(e.Algorithms, fmt.Sprintf("%s (%d)", certCompressionName(a), a))
		}
	case fingerprint.ExtSupportedVersions:
		e.Versions = make([]string, 0, len(ch.SupportedVersions))
		for _, v := range ch.SupportedVersions {
			switch {
			case fingerprint.IsGREASE(v):
				e.Versions = append(e.Versions, fmt.Sprintf("TLS_GREASE (0x%04x)", v))
			case v >= tls.VersionSSL30 && v <= tls.VersionTLS13:
				e.Versions = append(e.Versions, tls.VersionName(v))
			default:
				e.Versions = append(e.Versions, fmt.Sprintf("%04x", v))
			}
		}
	case fingerprint.ExtPSKKeyExchangeModes:
		// TrackMe prints the first mode only.
		if len(ch.PSKKeyExchangeModes) > 0 {
			e.PSKKeyExchangeMode = ptr(trackMePSKMode(ch.PSKKeyExchangeModes[0]))
		}
	case fingerprint.ExtKeyShare:
		e.SharedKeys = make([]map[string]string, 0, len(ch.KeyShares))
		for _, k := range ch.KeyShares {
			e.SharedKeys = append(e.SharedKeys, map[string]string{trackMeGroup(k.Group): hex.EncodeToString(k.Key)})
		}
	case fingerprint.ExtSignedCertTimestamp:
		// the name alone
	default:
		e.Data = ptr(hex.EncodeToString(x.Data))
	}
	return e
}

// trackMeGroup names a group as "<name> (<id>)", GREASE as TrackMe does.
func trackMeGroup(g fingerprint.NamedGroup) string {
	if fingerprint.IsGREASE(uint16(g)) {
		return fmt.Sprintf("TLS_GREASE (0x%04x)", uint16(g))
	}
	return fmt.Sprintf("%s (%d)", g, uint16(g))
}

// trackMeSigAlgs names signature schemes; one we cannot name prints as
// 0x%x, as TrackMe prints those.
func trackMeSigAlgs(vs []fingerprint.SignatureScheme) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		switch name := v.String(); {
		case fingerprint.IsGREASE(uint16(v)):
			out = append(out, fmt.Sprintf("TLS_GREASE (0x%04x)", uint16(v)))
		case strings.HasPrefix(name, "UNKNOWN_"):
			out = append(out, fmt.Sprintf("0x%x", uint16(v)))
		default:
			out = append(out, name)
		}
	}
	return out
}

// trackMePSKMode describes a psk_key_exchange_modes entry (RFC 8446 4.2.9)
// in TrackMe's words.
func trackMePSKMode(m uint8) string {
	switch m {
	case 0:
		return "PSK-only key establishment (psk_ke) (0)"
	case 1:
		return "PSK with (EC)DHE key establishment (psk_dhe_ke) (1)"
	}
	return fmt.Sprintf("UNKNOWN_%d (%d)", m, m)
}

// trackMeFrames lists the frames the client sent on the connection through
// rec's HEADERS frame, then rec's stream's CONTINUATION and DATA frames
// through its END_STREAM.
func trackMeFrames(c *fingerprint.HTTP2Conn, rec *fingerprint.HTTPRequest) []TrackMeFrame {
	out := []TrackMeFrame{}
	ended := false // rec's stream has sent END_STREAM
	for i, f := range c.Frames {
		if f.Offset > rec.Offset {
			if f.StreamID != rec.StreamID {
				continue
			}
			if f.Type != fingerprint.FrameContinuation && f.Type != fingerprint.FrameData && f.Type != fingerprint.FrameHeaders {
				continue
			}
		}
		tf := TrackMeFrame{Type: f.Type.String(), StreamID: f.StreamID, Length: uint32(f.Length), Flags: trackMeFlags(f)}
		if strings.HasPrefix(tf.Type, "UNKNOWN_") {
			tf.Type = "UNKNOWN_FRAME_TYPE_" + strconv.Itoa(int(f.Type)) // as golang.org/x/net/http2 names it
		}
		switch f.Type {
		case fingerprint.FrameSettings:
			for _, s := range c.Settings {
				if s.Frame != i {
					continue
				}
				for _, v := range s.Settings {
					name := v.ID.String()
					if strings.HasPrefix(name, "UNKNOWN_") {
						name = "UNKNOWN_SETTING_" + strconv.Itoa(int(v.ID)) // as golang.org/x/net/http2 names it
					}
					tf.Settings = append(tf.Settings, fmt.Sprintf("%s = %d", name, v.Value))
				}
			}
		case fingerprint.FrameWindowUpdate:
			for _, w := range c.WindowUpdates {
				if w.Frame == i {
					tf.Increment = w.Increment
				}
			}
		case fingerprint.FramePriority:
			for _, p := range c.Priorities {
				if p.Frame == i {
					tf.Priority = trackMePriority(&p)
				}
			}
		case fingerprint.FrameHeaders:
			if req := requestAt(c, rec, f.Offset); req != nil {
				for _, h := range req.Headers {
					tf.Headers = append(tf.Headers, h.Name+": "+h.Value)
				}
				if req.Priority != nil {
					tf.Priority = trackMePriority(req.Priority)
				}
			}
		}
		out = append(out, tf)
		if f.StreamID == rec.StreamID && f.Offset >= rec.Offset {
			const endStream, endHeaders = 0x1, 0x4
			if f.Type == fingerprint.FrameHeaders || f.Type == fingerprint.FrameData {
				ended = ended || f.Flags&endStream != 0
			}
			blockOpen := (f.Type == fingerprint.FrameHeaders || f.Type == fingerprint.FrameContinuation) && f.Flags&endHeaders == 0
			if ended && !blockOpen {
				break
			}
		}
	}
	return out
}

// requestAt returns the request whose HEADERS frame starts at off, when
// the connection still keeps it.
func requestAt(c *fingerprint.HTTP2Conn, rec *fingerprint.HTTPRequest, off int) *fingerprint.HTTPRequest {
	if rec.Offset == off {
		return rec
	}
	for _, r := range c.Requests {
		if r.Offset == off {
			return r
		}
	}
	return nil
}

func trackMePriority(p *fingerprint.HTTP2Priority) *TrackMePriority {
	out := &TrackMePriority{Weight: int(p.Weight), DependsOn: int(p.DependsOn)}
	if p.Exclusive {
		out.Exclusive = 1
	}
	return out
}

// trackMeFlags names a frame's flags as TrackMe lists them (RFC 9113 6).
func trackMeFlags(f fingerprint.HTTP2Frame) []string {
	type flag struct {
		bit  uint8
		name string
	}
	var known []flag
	switch f.Type {
	case fingerprint.FrameData:
		known = []flag{{0x1, "EndStream (0x1)"}, {0x8, "Padded (0x8)"}}
	case fingerprint.FrameHeaders:
		known = []flag{{0x1, "EndStream (0x1)"}, {0x4, "EndHeaders (0x4)"}, {0x8, "Padded (0x8)"}, {0x20, "Priority (0x20)"}}
	case fingerprint.FrameSettings, fingerprint.FramePing:
		known = []flag{{0x1, "Ack (0x1)"}}
	case fingerprint.FrameContinuation:
		known = []flag{{0x4, "EndHeaders (0x4)"}}
	case fingerprint.FramePushPromise:
		known = []flag{{0x4, "EndHeaders (0x4)"}, {0x8, "Padded (0x8)"}}
	}
	var out []string
	for _, k := range known {
		if f.Flags&k.bit != 0 {
			out = append(out, k.name)
		}
	}
	return out
}
