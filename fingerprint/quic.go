package fingerprint

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// QUIC versions whose Initial packets we can read.
const (
	QUICVersion1 uint32 = 0x00000001 // RFC 9000
	QUICVersion2 uint32 = 0x6b3343cf // RFC 9369
)

// quicVersionParams are the per-version constants of Initial protection.
type quicVersionParams struct {
	salt                       [20]byte
	keyLabel, ivLabel, hpLabel string
	initialType                byte // the long-header packet type of Initial
}

func quicParams(v uint32) (quicVersionParams, bool) {
	switch v {
	case QUICVersion1:
		// RFC 9001 5.2.
		return quicVersionParams{
			salt:     [20]byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
			keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp", initialType: 0,
		}, true
	case QUICVersion2:
		// RFC 9369 3.3.1 and 3.3.2.
		return quicVersionParams{
			salt:     [20]byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
			keyLabel: "quicv2 key", ivLabel: "quicv2 iv", hpLabel: "quicv2 hp", initialType: 1,
		}, true
	}
	return quicVersionParams{}, false
}

// QUICCrypto is the data of one CRYPTO frame of a client Initial packet.
type QUICCrypto struct {
	Offset uint64
	Data   []byte
}

// QUICInitial is one decrypted client Initial packet.
type QUICInitial struct {
	Version uint32
	DCID    []byte
	KeyDCID []byte // the connection ID whose keys decrypted the packet
	SCID    []byte
	Token   []byte
	PN      uint64
	Crypto  []QUICCrypto
}

// Errors of the QUIC reader.
var (
	// ErrNotQUICInitial: the datagram holds no long-header packet of a
	// version we read.
	ErrNotQUICInitial = errors.New("fingerprint: not a QUIC Initial packet")
	// ErrQUICDecrypt: the packet's authentication tag did not verify with
	// the keys of its Destination Connection ID (not a client Initial, or
	// corrupt).
	ErrQUICDecrypt = errors.New("fingerprint: QUIC Initial does not decrypt")
)

func quicErr(off int, msg string, err error) *ParseError {
	return &ParseError{Parser: "quic", Offset: off, Msg: msg, Err: err}
}

// maxQUICCryptoFrames caps the CRYPTO frames kept from one packet.
const maxQUICCryptoFrames = 64

// ParseQUICInitials decrypts the client Initial packets of one UDP
// datagram: coalesced packets are split, other long-header packets are
// skipped by their length, a short-header packet ends the datagram.
//
// Initial keys come from the Destination Connection ID of the client's
// first Initial (RFC 9001 5.2), or of its first Initial after a Retry.
// Later Initials carry the server's chosen connection ID instead, so the
// caller passes the DCIDs that keyed earlier packets of the connection
// (QUICInitial.KeyDCID) in keyDCIDs; each packet is tried with its own
// DCID first, then with those. Packets whose tag fails with every key are
// skipped; the error reports the first failure when no packet decrypted.
// The result's slices alias a copy of the datagram.
func ParseQUICInitials(datagram []byte, keyDCIDs ...[]byte) ([]QUICInitial, error) {
	buf := append([]byte(nil), datagram...) // decrypted in place
	var (
		out      []QUICInitial
		firstErr error
	)
	for off := 0; off < len(buf); {
		if buf[off]&0x80 == 0 {
			break // a short header runs to the end of the datagram
		}
		n, ini, err := parseLongPacket(buf[off:], off, keyDCIDs)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if n == 0 {
				break
			}
		} else if ini != nil {
			out = append(out, *ini)
		}
		if n <= 0 {
			break
		}
		off += n
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = quicErr(0, "no client Initial packet in the datagram", ErrNotQUICInitial)
		}
		return nil, firstErr
	}
	return out, nil
}

// parseLongPacket reads one long-header packet at the start of b and
// returns its length (0 when it cannot be delimited) and, for an Initial
// that decrypts, its contents. base is b's offset in the datagram.
func parseLongPacket(b []byte, base int, keyDCIDs [][]byte) (int, *QUICInitial, error) {
	s := cryptobyte.String(b)
	var first uint8
	var version uint32
	var dcid, scid cryptobyte.String
	if !s.ReadUint8(&first) || !s.ReadUint32(&version) {
		return 0, nil, quicErr(base, "long header cut short", ErrTruncated)
	}
	params, ok := quicParams(version)
	if !ok {
		return 0, nil, quicErr(base+1, "unknown QUIC version", ErrNotQUICInitial)
	}
	if !s.ReadUint8LengthPrefixed(&dcid) || !s.ReadUint8LengthPrefixed(&scid) || len(dcid) > 20 || len(scid) > 20 {
		return 0, nil, quicErr(base+5, "connection IDs malformed", ErrMalformed)
	}
	ptype := (first >> 4) & 0x3
	var token cryptobyte.String
	if ptype == params.initialType {
		tokenLen, ok := readQUICVarint(&s)
		if !ok || tokenLen > uint64(len(s)) {
			return 0, nil, quicErr(base, "token length malformed", ErrMalformed)
		}
		s.ReadBytes((*[]byte)(&token), int(tokenLen))
	} else if ptype == (params.initialType+3)&3 {
		return len(b), nil, nil // Retry: no length field; it ends the datagram
	}
	length, ok := readQUICVarint(&s)
	if !ok || length > uint64(len(s)) {
		return 0, nil, quicErr(base, "packet length exceeds the datagram", ErrTruncated)
	}
	pnOffset := len(b) - len(s)
	total := pnOffset + int(length)
	if ptype != params.initialType {
		return total, nil, nil // 0-RTT or Handshake: not ours to read
	}
	var ini *QUICInitial
	var err error
	pkt := b[:total]
	saved := append([]byte(nil), pkt...) // decryption works in place; keep the original for retries
	for i, key := range append([][]byte{dcid}, keyDCIDs...) {
		if i > 0 {
			copy(pkt, saved)
		}
		ini, err = decryptInitial(pkt, pnOffset, params, version, key, dcid, scid, token)
		if err == nil || !errors.Is(err, ErrQUICDecrypt) {
			break
		}
	}
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.Offset += base
		}
		return total, nil, err
	}
	return total, ini, nil
}

// decryptInitial removes header protection and decrypts one Initial
// packet in place (RFC 9001 5.3, 5.4).
func decryptInitial(pkt []byte, pnOffset int, p quicVersionParams, version uint32, keyDCID, dcid, scid, token []byte) (*QUICInitial, error) {
	key, iv, hp := clientInitialKeys(p, keyDCID)
	const sampleLen = 16
	if pnOffset+4+sampleLen > len(pkt) {
		return nil, quicErr(pnOffset, "packet too short for the header protection sample", ErrMalformed)
	}
	hpBlock, err := aes.NewCipher(hp)
	if err != nil {
		return nil, quicErr(0, err.Error(), ErrMalformed)
	}
	var mask [16]byte
	hpBlock.Encrypt(mask[:], pkt[pnOffset+4:pnOffset+4+sampleLen])
	pkt[0] ^= mask[0] & 0x0f
	pnLen := int(pkt[0]&0x03) + 1
	var pn uint64
	for i := 0; i < pnLen; i++ {
		pkt[pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(pkt[pnOffset+i])
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, quicErr(0, err.Error(), ErrMalformed)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, quicErr(0, err.Error(), ErrMalformed)
	}
	var nonce [12]byte
	copy(nonce[:], iv)
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(pn >> (56 - 8*i))
	}
	header := pkt[:pnOffset+pnLen]
	payload, err := aead.Open(pkt[pnOffset+pnLen:pnOffset+pnLen], nonce[:], pkt[pnOffset+pnLen:], header)
	if err != nil {
		return nil, quicErr(pnOffset, "authentication tag does not verify", ErrQUICDecrypt)
	}
	ini := &QUICInitial{Version: version, DCID: dcid, SCID: scid, Token: token, PN: pn, KeyDCID: keyDCID}
	if err := ini.readFrames(payload, pnOffset+pnLen); err != nil {
		return nil, err
	}
	return ini, nil
}

// clientInitialKeys derives the client's Initial AEAD key, IV and header
// protection key from the Destination Connection ID.
func clientInitialKeys(p quicVersionParams, dcid []byte) (key, iv, hp []byte) {
	initial, err := hkdf.Extract(sha256.New, dcid, p.salt[:])
	if err != nil {
		panic("fingerprint: HKDF-Extract over SHA-256 failed: " + err.Error())
	}
	client := HKDFExpandLabel(sha256.New, initial, "client in", 32)
	return HKDFExpandLabel(sha256.New, client, p.keyLabel, 16), HKDFExpandLabel(sha256.New, client, p.ivLabel, 12), HKDFExpandLabel(sha256.New, client, p.hpLabel, 16)
}

// readFrames keeps the CRYPTO frames of a decrypted Initial payload and
// skips the other frames an Initial may carry (RFC 9000 17.2.2).
func (ini *QUICInitial) readFrames(p []byte, base int) error {
	s := cryptobyte.String(p)
	for !s.Empty() {
		at := base + len(p) - len(s)
		typ, ok := readQUICVarint(&s)
		if !ok {
			return quicErr(at, "frame type cut short", ErrMalformed)
		}
		switch typ {
		case 0x00, 0x01: // PADDING, PING
		case 0x06: // CRYPTO
			off, ok1 := readQUICVarint(&s)
			n, ok2 := readQUICVarint(&s)
			if !ok1 || !ok2 || n > uint64(len(s)) || off+n > 1<<62 {
				return quicErr(at, "CRYPTO frame malformed", ErrMalformed)
			}
			var data []byte
			s.ReadBytes(&data, int(n))
			if len(ini.Crypto) == maxQUICCryptoFrames {
				return quicErr(at, "too many CRYPTO frames in one packet", ErrTooLarge)
			}
			ini.Crypto = append(ini.Crypto, QUICCrypto{Offset: off, Data: data})
		case 0x02, 0x03: // ACK, ACK with ECN counts
			if !skipACK(&s, typ == 0x03) {
				return quicErr(at, "ACK frame malformed", ErrMalformed)
			}
		case 0x1c: // CONNECTION_CLOSE (transport): code, frame type, reason
			_, ok1 := readQUICVarint(&s)
			_, ok2 := readQUICVarint(&s)
			n, ok3 := readQUICVarint(&s)
			if !ok1 || !ok2 || !ok3 || n > uint64(len(s)) {
				return quicErr(at, "CONNECTION_CLOSE malformed", ErrMalformed)
			}
			s.Skip(int(n))
		default:
			return quicErr(at, "frame type not allowed in an Initial packet", ErrMalformed)
		}
	}
	return nil
}

func skipACK(s *cryptobyte.String, ecn bool) bool {
	var vals [4]uint64
	for i := range vals {
		v, ok := readQUICVarint(s)
		if !ok {
			return false
		}
		vals[i] = v
	}
	// largest, delay, range count, first range; then count × (gap, length).
	if vals[2] > uint64(len(*s)) {
		return false
	}
	for i := uint64(0); i < vals[2]*2; i++ {
		if _, ok := readQUICVarint(s); !ok {
			return false
		}
	}
	if ecn {
		for i := 0; i < 3; i++ {
			if _, ok := readQUICVarint(s); !ok {
				return false
			}
		}
	}
	return true
}

// QUICCryptoStream reassembles the CRYPTO data of one connection's client
// Initials by offset, with a cap on what it holds.
type QUICCryptoStream struct {
	data    []byte // contiguous from offset 0
	pending []QUICCrypto
	max     int
}

// NewQUICCryptoStream returns an assembler holding at most max bytes.
func NewQUICCryptoStream(max int) *QUICCryptoStream { return &QUICCryptoStream{max: max} }

// Add takes one CRYPTO frame (copied). It reports ErrTooLarge when the
// data would pass the cap.
func (q *QUICCryptoStream) Add(c QUICCrypto) error {
	if c.Offset+uint64(len(c.Data)) > uint64(q.max) {
		return quicErr(0, "CRYPTO data beyond the limit", ErrTooLarge)
	}
	if len(q.pending) >= maxQUICCryptoFrames {
		return quicErr(0, "too many CRYPTO frames held", ErrTooLarge)
	}
	q.pending = append(q.pending, QUICCrypto{Offset: c.Offset, Data: append([]byte(nil), c.Data...)})
	for progress := true; progress; {
		progress = false
		for i := 0; i < len(q.pending); i++ {
			f := q.pending[i]
			end := f.Offset + uint64(len(f.Data))
			if f.Offset > uint64(len(q.data)) {
				continue
			}
			if end > uint64(len(q.data)) {
				q.data = append(q.data, f.Data[uint64(len(q.data))-f.Offset:]...)
			}
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			i--
			progress = true
		}
	}
	return nil
}

// ClientHello returns the contiguous CRYPTO bytes when they hold a whole
// ClientHello handshake message, and nil before.
func (q *QUICCryptoStream) ClientHello() []byte {
	if len(q.data) < handshakeHeaderLen {
		return nil
	}
	n := int(binary.BigEndian.Uint32(q.data[:4]) & 0xffffff)
	if len(q.data) < handshakeHeaderLen+n {
		return nil
	}
	return q.data[:handshakeHeaderLen+n]
}
