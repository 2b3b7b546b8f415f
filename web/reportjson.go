package web

import (
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/fpwork/fp/fingerprint"
)

// The echo's answer is encoded by hand: appending to a byte slice, with
// no reflection, the bytes json.Marshal writes for the same value (the
// same field order, omitempty and omitzero, null for a nil slice, the
// same string escaping). reportjson_test.go checks that over every golden
// capture and FuzzReportAppendJSON over arbitrary strings. A field added
// to one of these structs must be added here too: a test sets every field
// by reflection and compares with json.Marshal.

// AppendJSON appends r as json.Marshal encodes it. When r is a report
// of the echo on a connection's second request or later, its TLS section
// and TLS fingerprints are copied from their encoding kept for the
// connection.
func (r *Report) AppendJSON(b []byte) []byte {
	b = append(b, `{"client":`...)
	b = appendJSONString(b, r.Client)
	b = append(b, `,"http":`...)
	b = r.HTTP.AppendJSON(b)
	c := r.conn
	if r.TLS != nil {
		b = append(b, `,"tls":`...)
		if c != nil && c.tls == r.TLS && c.tlsJSON != nil {
			b = append(b, c.tlsJSON...)
		} else {
			b = r.TLS.AppendJSON(b)
		}
	}
	b = append(b, `,"fingerprints":{`...)
	if c != nil && c.fingerprintsJSON != nil && c.fingerprints == r.Fingerprints.TLSFingerprints {
		b = append(b, c.fingerprintsJSON...)
	} else {
		b = appendTLSFingerprintMembers(b, &r.Fingerprints.TLSFingerprints)
	}
	b = append(b, ',')
	b = appendHTTPFingerprintMembers(b, &r.Fingerprints.HTTPFingerprints)
	b = append(b, '}')
	if r.HTTP2 != nil {
		b = append(b, `,"http2":`...)
		b = r.HTTP2.AppendJSON(b)
	}
	b = append(b, `,"capture":`...)
	b = r.Capture.AppendJSON(b)
	b = append(b, `,"curl":`...)
	b = appendJSONString(b, r.Curl)
	b = append(b, `,"curl_notes":`...)
	b = appendJSONStrings(b, r.CurlNotes)
	return append(b, '}')
}

// AppendJSON appends h as json.Marshal encodes it.
func (h *HTTPInfo) AppendJSON(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = appendJSONString(b, h.Version)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, h.Method)
	b = append(b, `,"scheme":`...)
	b = appendJSONString(b, h.Scheme)
	b = append(b, `,"authority":`...)
	b = appendJSONString(b, h.Authority)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, h.Path)
	b = append(b, `,"query":`...)
	b = appendJSONString(b, h.Query)
	b = append(b, `,"headers":`...)
	if h.Headers == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range h.Headers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendJSONString(b, h.Headers[i][0])
			b = append(b, ',')
			b = appendJSONString(b, h.Headers[i][1])
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if h.Body != "" {
		b = append(b, `,"body":`...)
		b = appendJSONString(b, h.Body)
	}
	if h.BodyBase64 != "" {
		b = append(b, `,"body_base64":`...)
		b = appendJSONString(b, h.BodyBase64)
	}
	b = append(b, `,"body_length":`...)
	b = strconv.AppendInt(b, h.BodyLength, 10)
	if h.BodyCut {
		b = append(b, `,"body_truncated":true`...)
	}
	return append(b, '}')
}

// AppendJSON appends t as json.Marshal encodes it.
func (t *TLSInfo) AppendJSON(b []byte) []byte {
	b = append(b, `{"record_version":`...)
	b = appendJSONString(b, t.RecordVersion)
	b = append(b, `,"handshake_version":`...)
	b = appendJSONString(b, t.HandshakeVersion)
	b = append(b, `,"negotiated_version":`...)
	b = appendJSONString(b, t.NegotiatedVersion)
	b = append(b, `,"negotiated_cipher":`...)
	b = appendJSONString(b, t.NegotiatedCipher)
	b = append(b, `,"sni":`...)
	b = appendJSONString(b, t.SNI)
	b = append(b, `,"alpn_offered":`...)
	b = appendJSONStrings(b, t.ALPNOffered)
	b = append(b, `,"alpn_negotiated":`...)
	b = appendJSONString(b, t.ALPNNegotiated)
	b = append(b, `,"resumed":`...)
	b = strconv.AppendBool(b, t.Resumed)
	b = append(b, `,"cipher_suites":`...)
	b = appendJSONArray(b, t.CipherSuites, (*CodePoint).AppendJSON)
	b = append(b, `,"extensions":`...)
	b = appendJSONArray(b, t.Extensions, (*Extension).AppendJSON)
	b = append(b, `,"client_hello_hex":`...)
	b = appendJSONHex(b, t.ClientHelloHex)
	return append(b, '}')
}

// AppendJSON appends p as json.Marshal encodes it.
func (p *CodePoint) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendCodePointMembers(b, p)
	return append(b, '}')
}

// appendCodePointMembers appends p's members without the braces: they
// are also the first members of an Extension, which embeds CodePoint.
func appendCodePointMembers(b []byte, p *CodePoint) []byte {
	b = append(b, `"id":`...)
	b = strconv.AppendUint(b, uint64(p.ID), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Name)
	if p.GREASE {
		b = append(b, `,"grease":true`...)
	}
	return b
}

// AppendJSON appends x as json.Marshal encodes it.
func (x *Extension) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendCodePointMembers(b, &x.CodePoint)
	b = append(b, `,"data_hex":`...)
	b = appendJSONHex(b, x.DataHex)
	if x.Data != nil {
		b = append(b, `,"data":`...)
		b = x.Data.AppendJSON(b)
	}
	return append(b, '}')
}

// AppendJSON appends d as json.Marshal encodes it: every field is
// omitzero, so only the non-nil ones are written.
func (d *ExtensionData) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b)
	if d.ServerName != nil {
		b = appendJSONKey(b, open, "server_name")
		b = appendJSONString(b, *d.ServerName)
	}
	if d.StatusType != nil {
		b = appendJSONKey(b, open, "status_type")
		b = d.StatusType.AppendJSON(b)
	}
	if d.Groups != nil {
		b = appendJSONKey(b, open, "groups")
		b = appendJSONArray(b, d.Groups, (*CodePoint).AppendJSON)
	}
	if d.PointFormats != nil {
		b = appendJSONKey(b, open, "point_formats")
		b = appendJSONArray(b, d.PointFormats, (*CodePoint).AppendJSON)
	}
	if d.SignatureAlgorithms != nil {
		b = appendJSONKey(b, open, "signature_algorithms")
		b = appendJSONArray(b, d.SignatureAlgorithms, (*CodePoint).AppendJSON)
	}
	if d.Protocols != nil {
		b = appendJSONKey(b, open, "protocols")
		b = appendJSONStrings(b, d.Protocols)
	}
	if d.Versions != nil {
		b = appendJSONKey(b, open, "versions")
		b = appendJSONArray(b, d.Versions, (*CodePoint).AppendJSON)
	}
	if d.PSKModes != nil {
		b = appendJSONKey(b, open, "psk_key_exchange_modes")
		b = appendJSONArray(b, d.PSKModes, (*CodePoint).AppendJSON)
	}
	if d.KeyShares != nil {
		b = appendJSONKey(b, open, "key_shares")
		b = appendJSONArray(b, d.KeyShares, (*KeyShare).AppendJSON)
	}
	if d.CertCompression != nil {
		b = appendJSONKey(b, open, "cert_compression_algorithms")
		b = appendJSONArray(b, d.CertCompression, (*CodePoint).AppendJSON)
	}
	if d.RecordSizeLimit != nil {
		b = appendJSONKey(b, open, "record_size_limit")
		b = strconv.AppendUint(b, uint64(*d.RecordSizeLimit), 10)
	}
	if d.PSKIdentities != nil {
		b = appendJSONKey(b, open, "psk_identities")
		b = strconv.AppendInt(b, int64(*d.PSKIdentities), 10)
	}
	if d.ECH != nil {
		b = appendJSONKey(b, open, "ech")
		b = d.ECH.AppendJSON(b)
	}
	if d.QUICParameters != nil {
		b = appendJSONKey(b, open, "quic_transport_parameters")
		b = appendJSONArray(b, d.QUICParameters, (*QUICParam).AppendJSON)
	}
	if d.Length != nil {
		b = appendJSONKey(b, open, "length")
		b = strconv.AppendInt(b, int64(*d.Length), 10)
	}
	return append(b, '}')
}

// AppendJSON appends k as json.Marshal encodes it.
func (k *KeyShare) AppendJSON(b []byte) []byte {
	b = append(b, `{"group":`...)
	b = k.Group.AppendJSON(b)
	b = append(b, `,"key_length":`...)
	b = strconv.AppendInt(b, int64(k.KeyLength), 10)
	return append(b, '}')
}

// AppendJSON appends e as json.Marshal encodes it.
func (e *ECH) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, e.Type)
	if e.KDF != nil {
		b = append(b, `,"kdf":`...)
		b = e.KDF.AppendJSON(b)
	}
	if e.AEAD != nil {
		b = append(b, `,"aead":`...)
		b = e.AEAD.AppendJSON(b)
	}
	if e.ConfigID != nil {
		b = append(b, `,"config_id":`...)
		b = strconv.AppendUint(b, uint64(*e.ConfigID), 10)
	}
	if e.EncLength != 0 {
		b = append(b, `,"enc_length":`...)
		b = strconv.AppendInt(b, int64(e.EncLength), 10)
	}
	if e.PayloadLength != 0 {
		b = append(b, `,"payload_length":`...)
		b = strconv.AppendInt(b, int64(e.PayloadLength), 10)
	}
	return append(b, '}')
}

// AppendJSON appends q as json.Marshal encodes it.
func (q *QUICParam) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, q.ID, 10)
	b = append(b, `,"value_hex":`...)
	b = appendJSONHex(b, q.ValueHex)
	return append(b, '}')
}

// AppendJSON appends f as json.Marshal encodes it: one object with the
// members of both embedded structs.
func (f *Fingerprints) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendTLSFingerprintMembers(b, &f.TLSFingerprints)
	b = append(b, ',')
	b = appendHTTPFingerprintMembers(b, &f.HTTPFingerprints)
	return append(b, '}')
}

// appendTLSFingerprintMembers appends the members of f, without braces.
func appendTLSFingerprintMembers(b []byte, f *fingerprint.TLSFingerprints) []byte {
	b = append(b, `"ja3":`...)
	b = appendJSONString(b, f.JA3)
	b = append(b, `,"ja3_hash":`...)
	b = appendJSONString(b, f.JA3Hash)
	b = append(b, `,"ja3n":`...)
	b = appendJSONString(b, f.JA3N)
	b = append(b, `,"ja3n_hash":`...)
	b = appendJSONString(b, f.JA3NHash)
	b = append(b, `,"ja4":`...)
	b = appendJSONString(b, f.JA4)
	b = append(b, `,"ja4_r":`...)
	b = appendJSONString(b, f.JA4R)
	b = append(b, `,"ja4_o":`...)
	b = appendJSONString(b, f.JA4O)
	b = append(b, `,"ja4_ro":`...)
	b = appendJSONString(b, f.JA4RO)
	b = append(b, `,"peetprint":`...)
	b = appendJSONString(b, f.PeetPrint)
	b = append(b, `,"peetprint_hash":`...)
	return appendJSONString(b, f.PeetPrintHash)
}

// appendHTTPFingerprintMembers appends the members of f, without braces.
func appendHTTPFingerprintMembers(b []byte, f *fingerprint.HTTPFingerprints) []byte {
	b = append(b, `"ja4h":`...)
	b = appendJSONString(b, f.JA4H)
	b = append(b, `,"ja4h_r":`...)
	b = appendJSONString(b, f.JA4HR)
	b = append(b, `,"ja4h_ro":`...)
	b = appendJSONString(b, f.JA4HRO)
	if f.Akamai != "" {
		b = append(b, `,"akamai":`...)
		b = appendJSONString(b, f.Akamai)
	}
	if f.AkamaiHash != "" {
		b = append(b, `,"akamai_hash":`...)
		b = appendJSONString(b, f.AkamaiHash)
	}
	return b
}

// AppendJSON appends h as json.Marshal encodes it.
func (h *HTTP2Info) AppendJSON(b []byte) []byte {
	b = append(b, `{"settings":`...)
	b = appendJSONArray(b, h.Settings, (*Setting).AppendJSON)
	b = append(b, `,"window_update":`...)
	b = strconv.AppendUint(b, uint64(h.WindowUpdate), 10)
	b = append(b, `,"priorities":`...)
	b = appendJSONArray(b, h.Priorities, (*Priority).AppendJSON)
	b = append(b, `,"pseudo_header_order":`...)
	b = appendJSONStrings(b, h.PseudoHeaderOrder)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, uint64(h.StreamID), 10)
	b = append(b, `,"frames":`...)
	b = appendJSONArray(b, h.Frames, (*Frame).AppendJSON)
	return append(b, '}')
}

// AppendJSON appends s as json.Marshal encodes it.
func (s *Setting) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(s.ID), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, s.Name)
	b = append(b, `,"value":`...)
	b = strconv.AppendUint(b, uint64(s.Value), 10)
	return append(b, '}')
}

// AppendJSON appends p as json.Marshal encodes it.
func (p *Priority) AppendJSON(b []byte) []byte {
	b = append(b, `{"stream_id":`...)
	b = strconv.AppendUint(b, uint64(p.StreamID), 10)
	b = append(b, `,"exclusive":`...)
	b = strconv.AppendBool(b, p.Exclusive)
	b = append(b, `,"depends_on":`...)
	b = strconv.AppendUint(b, uint64(p.DependsOn), 10)
	b = append(b, `,"weight":`...)
	b = strconv.AppendUint(b, uint64(p.Weight), 10)
	return append(b, '}')
}

// AppendJSON appends f as json.Marshal encodes it.
func (f *Frame) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, f.Type)
	b = append(b, `,"flags":`...)
	b = strconv.AppendUint(b, uint64(f.Flags), 10)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, uint64(f.StreamID), 10)
	b = append(b, `,"length":`...)
	b = strconv.AppendInt(b, int64(f.Length), 10)
	return append(b, '}')
}

// AppendJSON appends c as json.Marshal encodes it.
func (c *CaptureInfo) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b)
	if c.StreamMatch != "" {
		b = appendJSONKey(b, open, "stream_match")
		b = appendJSONString(b, c.StreamMatch)
	}
	if c.Stopped != "" {
		b = appendJSONKey(b, open, "stopped")
		b = appendJSONString(b, c.Stopped)
	}
	if len(c.Anomalies) > 0 {
		b = appendJSONKey(b, open, "anomalies")
		b = appendJSONArray(b, c.Anomalies, appendAnomaly)
	}
	return append(b, '}')
}

// appendAnomaly appends a as json.Marshal encodes it.
func appendAnomaly(a *fingerprint.Anomaly, b []byte) []byte {
	b = append(b, `{"code":`...)
	b = appendJSONString(b, a.Code)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(a.Offset), 10)
	if a.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, a.Detail)
	}
	return append(b, '}')
}

// appendJSONKey appends an object member's key and colon, after a comma
// unless it is the first member: open is the length of b right after the
// object's opening brace. name must need no escaping.
func appendJSONKey(b []byte, open int, name string) []byte {
	if len(b) > open {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendJSONArray appends vs as a JSON array of what appendOne writes for
// each element; a nil slice is null, as encoding/json writes it.
func appendJSONArray[T any](b []byte, vs []T, appendOne func(*T, []byte) []byte) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOne(&vs[i], b)
	}
	return append(b, ']')
}

// appendJSONHex appends h as a JSON string of its hex, as json.Marshal
// encodes HexBytes (hex needs no escaping).
func appendJSONHex(b []byte, h HexBytes) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, h)
	return append(b, '"')
}

// appendJSONStrings appends vs as a JSON array of strings; nil is null.
func appendJSONStrings(b []byte, vs []string) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// jsonPlainBelow64 and jsonPlainFrom64 are bit sets of the ASCII bytes a
// JSON string holds as they are in json.Marshal's output: bit n of the
// first is byte n, bit n of the second byte 64+n. Left out: the control
// characters (below 0x20), the quote and backslash, which JSON requires
// to escape, and <, > and &, which json.Marshal escapes so that its
// output is safe inside HTML.
const (
	jsonPlainBelow64 uint64 = 0xffffffff_00000000 &^ (1<<'"' | 1<<'&' | 1<<'<' | 1<<'>')
	jsonPlainFrom64  uint64 = ^uint64(0) &^ (1 << ('\\' - 64))
)

// jsonPlainASCII reports whether ASCII byte c stands for itself in a
// JSON string as json.Marshal writes it.
func jsonPlainASCII(c byte) bool {
	if c < 64 {
		return jsonPlainBelow64&(1<<c) != 0
	}
	return jsonPlainFrom64&(1<<(c-64)) != 0
}

// lowerHexDigits are the digits of the \u00XX escapes json.Marshal writes.
const lowerHexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way json.Marshal writes
// one: \" \\ \b \f \n \r \t, \u00XX for the other control characters and
// for <, > and &, \u2028 and \u2029 for those two line separators (a
// JavaScript parser would end a string there), and \ufffd for each byte
// that is not part of valid UTF-8. Everything else is copied.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlainASCII(c) {
				i++
				continue
			}
			b = append(b, s[done:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHexDigits[c>>4], lowerHexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[done:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028':
			b = append(b, s[done:i]...)
			b = append(b, `\u2028`...)
		case r == '\u2029':
			b = append(b, s[done:i]...)
			b = append(b, `\u2029`...)
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}
