package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// quicV1InitialSalt is the QUIC version 1 initial salt (RFC 9001 section 5.2).
const quicV1InitialSalt = "\x38\x76\x2c\xf7\xf5\x59\x34\xb3\x4d\x17\x9a\xe6\xa4\xc8\x0c\xad\xcc\xbb\x7f\x0a"

const (
	quicVersion1   = 0x00000001
	quicMinInitial = 1200 // minimum size of a UDP datagram carrying a client Initial (RFC 9000 14.1)
	quicTagLen     = 16
)

// initialKeys protects Initial packets in one direction.
type initialKeys struct {
	aead cipher.AEAD
	iv   []byte
	hp   cipher.Block
}

// newInitialKeys derives the client ("client in") or server ("server in")
// Initial keys from the client's first Destination Connection ID (RFC 9001
// section 5.2): AES-128-GCM packet protection and AES header protection.
func newInitialKeys(dcid []byte, label string) (*initialKeys, error) {
	initial, err := hkdf.Extract(sha256.New, dcid, []byte(quicV1InitialSalt))
	if err != nil {
		return nil, err
	}
	secret, err := expandLabel(initial, label, 32)
	if err != nil {
		return nil, err
	}
	key, err := expandLabel(secret, "quic key", 16)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(secret, "quic iv", 12)
	if err != nil {
		return nil, err
	}
	hpKey, err := expandLabel(secret, "quic hp", 16)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	hp, err := aes.NewCipher(hpKey)
	if err != nil {
		return nil, err
	}
	return &initialKeys{aead: aead, iv: iv, hp: hp}, nil
}

// expandLabel is TLS 1.3 HKDF-Expand-Label with an empty context (RFC 8446
// section 7.1).
func expandLabel(secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

// initialHeader builds an unprotected long-header Initial packet header for a
// payload of payloadLen bytes (frames, without the AEAD tag), with a 2-byte
// packet number. It returns the header and the packet number's offset in it.
func initialHeader(dcid, scid []byte, pn uint32, payloadLen int) (hdr []byte, pnOff int) {
	const pnLen = 2
	hdr = make([]byte, 0, 64)
	hdr = append(hdr, 0xc0|(pnLen-1)) // long header, fixed bit, type Initial (0)
	hdr = binary.BigEndian.AppendUint32(hdr, quicVersion1)
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	hdr = append(hdr, byte(len(scid)))
	hdr = append(hdr, scid...)
	hdr = append(hdr, 0) // token length
	// Length covers the packet number and the protected payload; always
	// encoded on 2 bytes so the header size does not depend on the payload.
	length := pnLen + payloadLen + quicTagLen
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff = len(hdr)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(pn))
	return hdr, pnOff
}

// initialHeaderLen is len(initialHeader(...)).
func initialHeaderLen(dcid, scid []byte) int {
	return 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + 2
}

// protect seals payload under hdr (RFC 9001 section 5.3) and applies header
// protection (section 5.4) and returns the packet.
func (k *initialKeys) protect(hdr []byte, pnOff int, pn uint32, payload []byte) ([]byte, error) {
	pnLen := int(hdr[0]&0x03) + 1
	nonce := make([]byte, len(k.iv))
	copy(nonce, k.iv)
	for i := 0; i < 8; i++ {
		nonce[len(nonce)-1-i] ^= byte(uint64(pn) >> (8 * i))
	}
	pkt := make([]byte, len(hdr), len(hdr)+len(payload)+quicTagLen)
	copy(pkt, hdr)
	pkt = k.aead.Seal(pkt, nonce, payload, hdr)
	sampleOff := pnOff + 4
	if sampleOff+16 > len(pkt) {
		return nil, errors.New("quic: packet too short for a header protection sample")
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[sampleOff:sampleOff+16])
	pkt[0] ^= mask[0] & 0x0f // long header: the low 4 bits
	for i := 0; i < pnLen; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt, nil
}

// cryptoFrame appends a CRYPTO frame (type 0x06) carrying data at offset.
func cryptoFrame(b []byte, offset uint64, data []byte) []byte {
	b = append(b, 0x06)
	b = appendVarint(b, offset)
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// cryptoFrameOverhead is the size of a CRYPTO frame's header.
func cryptoFrameOverhead(offset uint64, n int) int {
	return 1 + varintLen(offset) + varintLen(uint64(n))
}

// ackFrame appends an ACK frame (type 0x02) acknowledging packets 0..largest.
func ackFrame(b []byte, largest uint64, delay uint64) []byte {
	b = append(b, 0x02)
	b = appendVarint(b, largest)
	b = appendVarint(b, delay)
	b = appendVarint(b, 0) // ACK Range Count
	return appendVarint(b, largest)
}
