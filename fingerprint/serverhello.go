package fingerprint

import (
	"crypto/hkdf"
	"hash"

	"golang.org/x/crypto/cryptobyte"
)

// ServerHello is what decryption needs from a server's hello: the random,
// the chosen cipher suite and the negotiated version.
type ServerHello struct {
	Random      []byte // aliases the input
	CipherSuite CipherSuite
	// Version is supported_versions' selected_version when present (TLS
	// 1.3), else legacy_version.
	Version uint16
	// HelloRetryRequest is set for a HelloRetryRequest (RFC 8446 4.1.3).
	HelloRetryRequest bool
	// Consumed is the number of input bytes through the end of the record
	// holding the end of the message.
	Consumed int
}

// helloRetryRequestRandom is the fixed random of a HelloRetryRequest.
const helloRetryRequestRandom = "\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c"

// ParseServerHello reads a ServerHello from the first TLS handshake
// record(s) of b. Errors wrap ErrTruncated while b is incomplete.
func ParseServerHello(b []byte) (*ServerHello, error) {
	var msg []byte
	off := 0
	for {
		if len(b)-off < recordHeaderLen {
			return nil, tlsErr(len(b), "record header cut short", ErrTruncated)
		}
		if b[off] != recordTypeHandshake {
			return nil, tlsErr(off, "not a handshake record", ErrMalformed)
		}
		n := int(b[off+3])<<8 | int(b[off+4])
		if n > maxRecordFragmentLen {
			return nil, tlsErr(off+3, "record length exceeds limit", ErrTooLarge)
		}
		if len(b)-off-recordHeaderLen < n {
			return nil, tlsErr(len(b), "record cut short", ErrTruncated)
		}
		msg = append(msg, b[off+recordHeaderLen:off+recordHeaderLen+n]...)
		off += recordHeaderLen + n
		if len(msg) >= handshakeHeaderLen {
			if msg[0] != 2 {
				return nil, tlsErr(0, "handshake message is not a ServerHello", ErrMalformed)
			}
			need := handshakeHeaderLen + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if need > MaxClientHelloLen {
				return nil, tlsErr(1, "ServerHello length exceeds limit", ErrTooLarge)
			}
			if len(msg) >= need {
				msg = msg[:need]
				break
			}
		}
	}
	sh := &ServerHello{Consumed: off}
	s := cryptobyte.String(msg[handshakeHeaderLen:])
	var random, sid cryptobyte.String
	var suite uint16
	var comp uint8
	if !s.ReadUint16(&sh.Version) || !s.ReadBytes((*[]byte)(&random), 32) || !s.ReadUint8LengthPrefixed(&sid) ||
		!s.ReadUint16(&suite) || !s.ReadUint8(&comp) {
		return nil, tlsErr(recordHeaderLen, "ServerHello malformed", ErrMalformed)
	}
	sh.Random, sh.CipherSuite = random, CipherSuite(suite)
	sh.HelloRetryRequest = string(random) == helloRetryRequestRandom
	var exts cryptobyte.String
	if !s.Empty() && s.ReadUint16LengthPrefixed(&exts) {
		for !exts.Empty() {
			var typ uint16
			var data cryptobyte.String
			if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
				break
			}
			if ExtensionType(typ) == ExtSupportedVersions && len(data) == 2 {
				sh.Version = uint16(data[0])<<8 | uint16(data[1])
			}
		}
	}
	return sh, nil
}

// HKDFExpandLabel is TLS 1.3's HKDF-Expand-Label with an empty context
// (RFC 8446 7.1).
func HKDFExpandLabel(h func() hash.Hash, secret []byte, label string, length int) []byte {
	var info cryptobyte.Builder
	info.AddUint16(uint16(length))
	info.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("tls13 " + label)) })
	info.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {})
	out, err := hkdf.Expand(h, secret, string(info.BytesOrPanic()), length)
	if err != nil {
		panic("fingerprint: HKDF-Expand of a small fixed length failed: " + err.Error())
	}
	return out
}
