package fingerprint

import (
	"golang.org/x/crypto/cryptobyte"
)

// MaxClientHelloLen caps the handshake message length read from a
// ClientHello header. Real hellos, post-quantum key shares included, stay
// under 8 KiB; a large PSK or padding can reach tens of KiB.
const MaxClientHelloLen = 1 << 17

const (
	recordTypeHandshake   = 22
	handshakeClientHello  = 1
	recordHeaderLen       = 5
	handshakeHeaderLen    = 4
	maxRecordFragmentLen  = 1<<14 + 2048 // TLSCiphertext bound of RFC 8446 5.2
	sslv2HelloFirstByteHi = 0x80
)

// ClientHello is a parsed TLS ClientHello. Slices of bytes alias the input
// when the message sits in one record (or is given bare); a message spread
// over several records is copied once into Raw and the slices alias Raw.
type ClientHello struct {
	// Raw is the handshake message: type, 3-byte length, body.
	Raw []byte
	// Consumed is the number of input bytes the hello occupied: the records
	// carrying it, through the end of the last one, or the bare message.
	Consumed int
	// RecordVersion is the version field of the first record header; 0 when
	// the input was a bare handshake message.
	RecordVersion uint16
	// Records is the number of TLS records the message was spread over.
	Records int

	LegacyVersion      uint16
	Random             []byte
	SessionID          []byte
	CipherSuites       []CipherSuite
	CompressionMethods []byte
	// Extensions in wire order, GREASE included.
	Extensions []Extension

	// Decoded extensions. Each is set from the first extension of its type;
	// a malformed one leaves its field empty and adds an Anomaly.
	ServerName              string // host_name entry of server_name (0)
	SupportedGroups         []NamedGroup
	ECPointFormats          []byte
	SignatureAlgorithms     []SignatureScheme
	SignatureAlgorithmsCert []SignatureScheme
	ALPN                    []string
	SupportedVersions       []uint16
	PSKKeyExchangeModes     []byte
	KeyShares               []KeyShare
	CertCompressionAlgs     []uint16
	RecordSizeLimit         uint16
	DelegatedCredentials    []SignatureScheme
	// ApplicationSettings holds the ALPS protocols of extension 17513 (old)
	// or 17613 (new); ApplicationSettingsType says which was sent.
	ApplicationSettings     []string
	ApplicationSettingsType ExtensionType
	ECH                     *ECHOuter
	QUICTransportParameters []QUICTransportParameter
	SessionTicket           []byte
	PSKIdentities           int
	EarlyData               bool
	Cookie                  []byte
	StatusRequestType       uint8 // 1 = ocsp; 0 when absent
	PaddingLen              int

	Anomalies []Anomaly

	// backing gives the common lists their first storage, so a typical
	// hello costs one allocation for the struct plus its strings; longer
	// lists grow past it by append.
	backing helloBacking
	joinBuf []byte // holds a hello joined from several records
}

type helloBacking struct {
	extensions [24]Extension
	ciphers    [48]CipherSuite
	groups     [12]NamedGroup
	sigAlgs    [24]SignatureScheme
	versions   [8]uint16
	keyShares  [4]KeyShare
	certComp   [4]uint16
	alpn       [4]string
	seen       [4]uint64 // extension types seen, by low byte: a duplicate pre-check
	frags      [4]fragment
	ech        ECHOuter
}

// Extension is one extension as sent.
type Extension struct {
	Type ExtensionType
	// Data is the extension body (aliases Raw).
	Data []byte
	// Offset of the extension's type field within Raw.
	Offset int
}

// GREASE reports whether the extension type is a GREASE value.
func (e Extension) GREASE() bool { return IsGREASE(uint16(e.Type)) }

// KeyShare is one key_share entry: the group, the length of its key, and
// the key exchange bytes (aliases Raw).
type KeyShare struct {
	Group  NamedGroup
	KeyLen int
	Key    []byte
}

// ECHOuter is the outer encrypted_client_hello extension (type 0 = outer).
type ECHOuter struct {
	Type       uint8
	KDF        uint16
	AEAD       uint16
	ConfigID   uint8
	EncLen     int
	PayloadLen int
}

// QUICTransportParameter is one transport parameter (RFC 9000 18).
type QUICTransportParameter struct {
	ID    uint64
	Value []byte
}

// HasExtension reports whether an extension of type t was sent.
func (ch *ClientHello) HasExtension(t ExtensionType) bool {
	for _, e := range ch.Extensions {
		if e.Type == t {
			return true
		}
	}
	return false
}

// ParseClientHello parses a ClientHello from b, which is either a stream of
// TLS records starting at the first record (the hello may span several
// records) or a bare handshake message. Bytes after the hello are ignored;
// Consumed says where it ended.
//
// Errors wrap ErrTruncated when b ends before the hello is complete,
// ErrNotClientHello when b does not start with one, ErrTooLarge when the
// declared length exceeds MaxClientHelloLen, and ErrMalformed otherwise.
func ParseClientHello(b []byte) (*ClientHello, error) {
	ch := new(ClientHello)
	if err := ch.Parse(b); err != nil {
		return nil, err
	}
	return ch, nil
}

// Parse is ParseClientHello into an existing value, for callers that parse
// many hellos: ch is reset first and its storage reused, so slices taken
// from an earlier result are overwritten. On error ch holds no hello.
func (ch *ClientHello) Parse(b []byte) error {
	joinBuf := ch.joinBuf[:0]
	*ch = ClientHello{joinBuf: joinBuf}
	if len(b) == 0 {
		return tlsErr(0, "empty input", ErrTruncated)
	}
	frags := ch.backing.frags[:0]
	switch {
	case b[0] == recordTypeHandshake:
		msg, fr, err := ch.joinRecords(b, frags)
		if err != nil {
			return err
		}
		ch.Raw, frags = msg, fr
	case b[0] == handshakeClientHello:
		n, err := handshakeLen(b, 0)
		if err != nil {
			return err
		}
		ch.Raw = b[:n]
		ch.Consumed = n
		frags = append(frags, fragment{msgOff: 0, inOff: 0})
	case b[0]&sslv2HelloFirstByteHi != 0 && len(b) >= 3 && b[2] == handshakeClientHello:
		return tlsErr(0, "SSL 2.0-format ClientHello is not supported", ErrNotClientHello)
	default:
		return tlsErr(0, "first byte is neither a handshake record nor a ClientHello", ErrNotClientHello)
	}
	if err := ch.parseBody(); err != nil {
		if pe, ok := err.(*ParseError); ok {
			pe.Offset = inputOffset(frags, pe.Offset)
		}
		return err
	}
	return nil
}

// fragment maps a position in the joined message to one in the input.
type fragment struct{ msgOff, inOff int }

func inputOffset(frags []fragment, msgOff int) int {
	in := msgOff
	for _, f := range frags {
		if f.msgOff <= msgOff {
			in = f.inOff + (msgOff - f.msgOff)
		}
	}
	return in
}

func tlsErr(off int, msg string, err error) *ParseError {
	return &ParseError{Parser: "tls", Offset: off, Msg: msg, Err: err}
}

// helloHeader checks the 4-byte handshake header at b and returns the full
// message length, header included. inOff is b's offset in the input.
func helloHeader(b []byte, inOff int) (int, error) {
	if b[0] != handshakeClientHello {
		return 0, tlsErr(inOff, "handshake message is not a ClientHello", ErrNotClientHello)
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if n > MaxClientHelloLen {
		return 0, tlsErr(inOff+1, "ClientHello length exceeds limit", ErrTooLarge)
	}
	return handshakeHeaderLen + n, nil
}

// handshakeLen returns the length of the bare handshake message at the
// start of b, when b holds all of it.
func handshakeLen(b []byte, inOff int) (int, error) {
	if len(b) < handshakeHeaderLen {
		return 0, tlsErr(inOff+len(b), "handshake header cut short", ErrTruncated)
	}
	n, err := helloHeader(b, inOff)
	if err != nil {
		return 0, err
	}
	if len(b) < n {
		return 0, tlsErr(inOff+len(b), "ClientHello cut short", ErrTruncated)
	}
	return n, nil
}

// joinRecords reads handshake records from b until they hold a whole
// ClientHello. The result aliases b when one record holds it, and ch's
// join buffer otherwise.
func (ch *ClientHello) joinRecords(b []byte, frags []fragment) ([]byte, []fragment, error) {
	var (
		msg    []byte
		off    int
		copied bool
		need   = -1 // full message length once the header is known
	)
	for {
		if len(b)-off < recordHeaderLen {
			return nil, nil, tlsErr(len(b), "record header cut short", ErrTruncated)
		}
		typ := b[off]
		version := uint16(b[off+1])<<8 | uint16(b[off+2])
		length := int(b[off+3])<<8 | int(b[off+4])
		if typ != recordTypeHandshake {
			return nil, nil, tlsErr(off, "non-handshake record before the ClientHello is complete", ErrMalformed)
		}
		if ch.Records == 0 {
			ch.RecordVersion = version
		}
		if length > maxRecordFragmentLen {
			return nil, nil, tlsErr(off+3, "record length exceeds limit", ErrTooLarge)
		}
		if length > 1<<14 {
			ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyOversizedRecord, Offset: len(msg)})
		}
		if length == 0 {
			ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyEmptyRecord, Offset: len(msg)})
		}
		body := off + recordHeaderLen
		if len(b)-body < length {
			return nil, nil, tlsErr(len(b), "record cut short", ErrTruncated)
		}
		frag := b[body : body+length]
		ch.Records++
		frags = append(frags, fragment{msgOff: len(msg), inOff: body})
		switch {
		case msg == nil:
			msg = frag
		case !copied:
			ch.joinBuf = append(append(ch.joinBuf[:0], msg...), frag...)
			msg = ch.joinBuf
			copied = true
		default:
			ch.joinBuf = append(ch.joinBuf, frag...)
			msg = ch.joinBuf
		}
		off = body + length
		if need < 0 && len(msg) >= handshakeHeaderLen {
			n, err := helloHeader(msg, frags[0].inOff)
			if err != nil {
				return nil, nil, err
			}
			need = n
		}
		if need >= 0 && len(msg) >= need {
			if len(msg) > need {
				ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyDataAfterHello, Offset: need,
					Detail: "the last record carries more handshake data after the ClientHello"})
			}
			ch.Consumed = off
			return msg[:need:need], frags, nil
		}
		if len(msg) > MaxClientHelloLen+handshakeHeaderLen {
			return nil, nil, tlsErr(off, "ClientHello records exceed limit", ErrTooLarge)
		}
	}
}

func (ch *ClientHello) parseBody() error {
	raw := ch.Raw
	s := cryptobyte.String(raw[handshakeHeaderLen:])
	at := func() int { return len(raw) - len(s) }
	var (
		random, sessionID, suites, compression cryptobyte.String
	)
	// Offsets in errors point at the field that failed: cryptobyte may
	// have advanced past its length prefix.
	if !s.ReadUint16(&ch.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) {
		return tlsErr(handshakeHeaderLen, "version or random cut short", ErrMalformed)
	}
	ch.Random = random
	if off := at(); !s.ReadUint8LengthPrefixed(&sessionID) {
		return tlsErr(off, "session id cut short", ErrMalformed)
	}
	ch.SessionID = sessionID
	if off := at(); !s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 {
		return tlsErr(off, "cipher suites malformed", ErrMalformed)
	}
	ch.CipherSuites = ch.backing.ciphers[:0]
	for !suites.Empty() {
		var v uint16
		suites.ReadUint16(&v)
		ch.CipherSuites = append(ch.CipherSuites, CipherSuite(v))
	}
	if off := at(); !s.ReadUint8LengthPrefixed(&compression) {
		return tlsErr(off, "compression methods cut short", ErrMalformed)
	}
	ch.CompressionMethods = compression
	if s.Empty() {
		return nil // SSL 3.0 and early TLS hellos may carry no extensions block.
	}
	var exts cryptobyte.String
	if lenOff := at(); !s.ReadUint16LengthPrefixed(&exts) {
		return tlsErr(lenOff, "extensions block length exceeds the message", ErrMalformed)
	}
	extsEnd := at()
	extsStart := extsEnd - len(exts)
	if !s.Empty() {
		ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyTrailingBytes, Offset: at(),
			Detail: "bytes after the extensions block"})
	}
	ch.Extensions = ch.backing.extensions[:0]
	for !exts.Empty() {
		off := extsStart + (extsEnd - extsStart - len(exts))
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return tlsErr(off, "extension header or body cut short", ErrMalformed)
		}
		ext := Extension{Type: ExtensionType(typ), Data: data, Offset: off}
		dup := ch.seenBefore(ext.Type)
		ch.Extensions = append(ch.Extensions, ext)
		if dup {
			ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyDuplicateExtension, Offset: off,
				Detail: ext.Type.String()})
			continue
		}
		ch.decodeExtension(ext)
	}
	return nil
}

// seenBefore reports whether an extension of type t came earlier, and
// marks t as seen. The bitmap on the type's low byte answers most calls
// without a scan.
func (ch *ClientHello) seenBefore(t ExtensionType) bool {
	word, bit := (t&0xff)>>6, uint64(1)<<(t&63)
	if ch.backing.seen[word]&bit == 0 {
		ch.backing.seen[word] |= bit
		return false
	}
	return ch.HasExtension(t)
}

// decodeExtension fills the decoded view of one extension. A body that
// does not decode leaves the view empty and records an anomaly.
func (ch *ClientHello) decodeExtension(ext Extension) {
	s := cryptobyte.String(ext.Data)
	ok := true
	switch ext.Type {
	case ExtServerName:
		ok = ch.decodeServerName(&s)
	case ExtSupportedGroups:
		ch.SupportedGroups, ok = readUint16List(&s, ch.backing.groups[:0])
	case ExtECPointFormats:
		var l cryptobyte.String
		ok = s.ReadUint8LengthPrefixed(&l)
		ch.ECPointFormats = l
	case ExtSignatureAlgorithms:
		ch.SignatureAlgorithms, ok = readUint16List(&s, ch.backing.sigAlgs[:0])
	case ExtSignatureAlgorithmsCert:
		ch.SignatureAlgorithmsCert, ok = readUint16List[SignatureScheme](&s, nil)
	case ExtDelegatedCredentials:
		ch.DelegatedCredentials, ok = readUint16List[SignatureScheme](&s, nil)
	case ExtALPN:
		ch.ALPN, ok = readProtocolList(&s, ch.backing.alpn[:0])
	case ExtApplicationSettings, ExtApplicationSettingsOld:
		if ch.ApplicationSettingsType == 0 {
			ch.ApplicationSettingsType = ext.Type
			ch.ApplicationSettings, ok = readProtocolList(&s, nil)
		} else {
			s.Skip(len(s))
		}
	case ExtSupportedVersions:
		ch.SupportedVersions, ok = readShortUint16List(&s, ch.backing.versions[:0])
	case ExtPSKKeyExchangeModes:
		var l cryptobyte.String
		ok = s.ReadUint8LengthPrefixed(&l)
		ch.PSKKeyExchangeModes = l
	case ExtKeyShare:
		ok = ch.decodeKeyShare(&s)
	case ExtCompressCertificate:
		ch.CertCompressionAlgs, ok = readShortUint16List(&s, ch.backing.certComp[:0])
	case ExtRecordSizeLimit:
		ok = s.ReadUint16(&ch.RecordSizeLimit)
	case ExtEncryptedClientHello:
		ok = ch.decodeECH(&s)
	case ExtQUICTransportParameters, ExtQUICTransportParamsDraft:
		ok = ch.decodeQUICParams(&s)
	case ExtSessionTicket:
		ch.SessionTicket = ext.Data
		s.Skip(len(s))
	case ExtPreSharedKey:
		ok = ch.decodePSK(&s)
	case ExtEarlyData:
		ch.EarlyData = true
	case ExtCookie:
		var l cryptobyte.String
		ok = s.ReadUint16LengthPrefixed(&l)
		ch.Cookie = l
	case ExtStatusRequest:
		// status_type, then opaque lists we keep only as raw bytes.
		ok = s.ReadUint8(&ch.StatusRequestType)
		s.Skip(len(s))
	case ExtPadding:
		ch.PaddingLen = len(ext.Data)
		s.Skip(len(s))
	default:
		return // kept as type + bytes
	}
	switch {
	case !ok:
		ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyMalformedExtension, Offset: ext.Offset,
			Detail: ext.Type.String()})
	case !s.Empty():
		ch.Anomalies = append(ch.Anomalies, Anomaly{Code: AnomalyExtensionTrailing, Offset: ext.Offset,
			Detail: ext.Type.String()})
	}
}

func (ch *ClientHello) decodeServerName(s *cryptobyte.String) bool {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return false
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return false
		}
		if typ == 0 && ch.ServerName == "" {
			ch.ServerName = string(name)
		}
	}
	return true
}

func (ch *ClientHello) decodeKeyShare(s *cryptobyte.String) bool {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return false
	}
	ch.KeyShares = ch.backing.keyShares[:0]
	for !list.Empty() {
		var group uint16
		var key cryptobyte.String
		if !list.ReadUint16(&group) || !list.ReadUint16LengthPrefixed(&key) {
			return false
		}
		ch.KeyShares = append(ch.KeyShares, KeyShare{Group: NamedGroup(group), KeyLen: len(key), Key: key})
	}
	return true
}

func (ch *ClientHello) decodeECH(s *cryptobyte.String) bool {
	e := &ch.backing.ech
	if !s.ReadUint8(&e.Type) {
		return false
	}
	if e.Type != 0 { // inner ECH: a bare type byte
		ch.ECH = e
		return true
	}
	var enc, payload cryptobyte.String
	if !s.ReadUint16(&e.KDF) || !s.ReadUint16(&e.AEAD) || !s.ReadUint8(&e.ConfigID) ||
		!s.ReadUint16LengthPrefixed(&enc) || !s.ReadUint16LengthPrefixed(&payload) {
		return false
	}
	e.EncLen, e.PayloadLen = len(enc), len(payload)
	ch.ECH = e
	return true
}

func (ch *ClientHello) decodeQUICParams(s *cryptobyte.String) bool {
	for !s.Empty() {
		id, ok := readQUICVarint(s)
		if !ok {
			return false
		}
		n, ok := readQUICVarint(s)
		if !ok || n > uint64(len(*s)) {
			return false
		}
		var v []byte
		s.ReadBytes(&v, int(n))
		ch.QUICTransportParameters = append(ch.QUICTransportParameters, QUICTransportParameter{ID: id, Value: v})
	}
	return true
}

func (ch *ClientHello) decodePSK(s *cryptobyte.String) bool {
	var ids, binders cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&ids) || !s.ReadUint16LengthPrefixed(&binders) {
		return false
	}
	for !ids.Empty() {
		var id cryptobyte.String
		var age uint32
		if !ids.ReadUint16LengthPrefixed(&id) || !ids.ReadUint32(&age) {
			return false
		}
		ch.PSKIdentities++
	}
	return true
}

// readQUICVarint reads an RFC 9000 variable-length integer.
func readQUICVarint(s *cryptobyte.String) (uint64, bool) {
	var first uint8
	if !s.ReadUint8(&first) {
		return 0, false
	}
	n := 1 << (first >> 6)
	v := uint64(first & 0x3f)
	for i := 1; i < n; i++ {
		var b uint8
		if !s.ReadUint8(&b) {
			return 0, false
		}
		v = v<<8 | uint64(b)
	}
	return v, true
}

// readUint16List reads a vector<2..2^16-2> of 16-bit code points,
// appending to dst.
func readUint16List[T ~uint16](s *cryptobyte.String, dst []T) ([]T, bool) {
	var l cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&l) {
		return nil, false
	}
	return appendUint16s(l, dst)
}

// readShortUint16List reads a vector<2..254> of 16-bit values (an 8-bit
// length prefix), appending to dst.
func readShortUint16List(s *cryptobyte.String, dst []uint16) ([]uint16, bool) {
	var l cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&l) {
		return nil, false
	}
	return appendUint16s(l, dst)
}

func appendUint16s[T ~uint16](l cryptobyte.String, dst []T) ([]T, bool) {
	if len(l)%2 != 0 {
		return nil, false
	}
	out := dst[:0]
	for !l.Empty() {
		var v uint16
		l.ReadUint16(&v)
		out = append(out, T(v))
	}
	return out, true
}

// readProtocolList reads an ALPN-style ProtocolNameList, appending to dst.
func readProtocolList(s *cryptobyte.String, dst []string) ([]string, bool) {
	var l cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&l) {
		return nil, false
	}
	out := dst[:0]
	for !l.Empty() {
		var p cryptobyte.String
		if !l.ReadUint8LengthPrefixed(&p) {
			return out, false
		}
		out = append(out, string(p))
	}
	return out, true
}
