package analyze

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/fpwork/fp/fingerprint"
)

// recordOpener decrypts the client's TLS records of one connection.
type recordOpener struct {
	aead  cipher.AEAD
	iv    []byte
	tls13 bool
	// explicitNonce: TLS 1.2 AES-GCM records start with 8 nonce bytes.
	explicitNonce bool
	seq           uint64
}

// suiteParams describes an AEAD cipher suite we can decrypt.
type suiteParams struct {
	keyLen  int
	chacha  bool
	hash    func() hash.Hash
	fixedIV int // TLS 1.2 implicit IV length
}

func suiteOf(cs fingerprint.CipherSuite) (suiteParams, bool) {
	switch cs {
	case 0x1301:
		return suiteParams{keyLen: 16, hash: sha256.New}, true
	case 0x1302:
		return suiteParams{keyLen: 32, hash: sha512.New384}, true
	case 0x1303:
		return suiteParams{keyLen: 32, chacha: true, hash: sha256.New}, true
	case 0x009c, 0x009e, 0xc02b, 0xc02f:
		return suiteParams{keyLen: 16, hash: sha256.New, fixedIV: 4}, true
	case 0x009d, 0x009f, 0xc02c, 0xc030:
		return suiteParams{keyLen: 32, hash: sha512.New384, fixedIV: 4}, true
	case 0xcca8, 0xcca9, 0xccaa:
		return suiteParams{keyLen: 32, chacha: true, hash: sha256.New, fixedIV: 12}, true
	}
	return suiteParams{}, false
}

// errNoKeys: the key log lacks the secret this connection needs.
var errNoKeys = errors.New("analyze: no secret for this connection in the key log")

// newRecordOpener derives the client's write key from the key log: the
// TLS 1.3 client application traffic secret, or the TLS 1.2 master secret.
func newRecordOpener(sh *fingerprint.ServerHello, clientRandom []byte, s *sessionSecrets) (*recordOpener, error) {
	p, ok := suiteOf(sh.CipherSuite)
	if !ok {
		return nil, fmt.Errorf("analyze: cipher suite %s is not decrypted", sh.CipherSuite)
	}
	o := &recordOpener{tls13: sh.Version == 0x0304}
	var key []byte
	if o.tls13 {
		if s.clientApp == nil {
			return nil, errNoKeys
		}
		key = fingerprint.HKDFExpandLabel(p.hash, s.clientApp, "key", p.keyLen)
		o.iv = fingerprint.HKDFExpandLabel(p.hash, s.clientApp, "iv", 12)
	} else {
		if s.master == nil {
			return nil, errNoKeys
		}
		// RFC 5246 6.3: client_write_key, server_write_key, client IV, ...
		// (AEAD suites have no MAC keys).
		block := prf12(p.hash, s.master, "key expansion", append(append([]byte(nil), sh.Random...), clientRandom...), 2*p.keyLen+2*p.fixedIV)
		key, o.iv = block[:p.keyLen], block[2*p.keyLen:2*p.keyLen+p.fixedIV]
		o.explicitNonce = !p.chacha
	}
	var err error
	if p.chacha {
		o.aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			o.aead, err = cipher.NewGCM(b)
		}
	}
	return o, err
}

// prf12 is the TLS 1.2 PRF, P_hash of RFC 5246 5.
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	labelSeed := append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	a := labelSeed
	var out []byte
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
	}
	return out[:n]
}

// open decrypts one record (header included) and returns its content type
// and plaintext. On failure the sequence number does not advance.
func (o *recordOpener) open(record []byte) (byte, []byte, error) {
	header, payload := record[:5], record[5:]
	var nonce [12]byte
	if o.explicitNonce {
		if len(payload) < 8 {
			return 0, nil, errors.New("analyze: record too short for its nonce")
		}
		copy(nonce[:4], o.iv)
		copy(nonce[4:], payload[:8])
		payload = payload[8:]
	} else {
		copy(nonce[:], o.iv)
		for i := 0; i < 8; i++ {
			nonce[4+i] ^= byte(o.seq >> (56 - 8*i))
		}
	}
	var aad []byte
	if o.tls13 {
		aad = header
	} else {
		if len(payload) < o.aead.Overhead() {
			return 0, nil, errors.New("analyze: record too short for its tag")
		}
		aad = make([]byte, 13)
		binary.BigEndian.PutUint64(aad, o.seq)
		copy(aad[8:11], header[:3])
		binary.BigEndian.PutUint16(aad[11:], uint16(len(payload)-o.aead.Overhead()))
	}
	plain, err := o.aead.Open(nil, nonce[:], payload, aad)
	if err != nil {
		return 0, nil, err
	}
	o.seq++
	typ := header[0]
	if o.tls13 {
		// TLSInnerPlaintext: content, the real type, zero padding.
		i := len(plain) - 1
		for i >= 0 && plain[i] == 0 {
			i--
		}
		if i < 0 {
			return 0, nil, errors.New("analyze: TLS 1.3 record without a content type")
		}
		typ, plain = plain[i], plain[:i]
	}
	return typ, plain, nil
}
