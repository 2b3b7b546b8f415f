package fingerprint

import "golang.org/x/crypto/cryptobyte"

// RedactPSK returns a copy of hello (TLS records or a bare handshake
// message, as ParseClientHello takes) with the secrets of its
// pre_shared_key extension zeroed: each identity (a session ticket), its
// obfuscated ticket age, and each binder. Every length, every other byte
// and so every fingerprint stay the same. A hello without the extension
// comes back as an unchanged copy; one that does not parse is an error.
func RedactPSK(hello []byte) ([]byte, error) {
	ch, err := ParseClientHello(hello)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), hello...)
	var psk *Extension
	for i := range ch.Extensions {
		if ch.Extensions[i].Type == ExtPreSharedKey {
			psk = &ch.Extensions[i]
		}
	}
	if psk == nil {
		return out, nil
	}
	msg := append([]byte(nil), ch.Raw...)
	start := psk.Offset + 4 // the extension's type and length
	zeroPSKSecrets(msg[start : start+len(psk.Data)])
	if hello[0] != recordTypeHandshake {
		copy(out, msg) // a bare message: message offsets are input offsets
		return out, nil
	}
	// Records: their payloads, in order, hold the message.
	for off, pos := 0, 0; pos < len(msg) && off+recordHeaderLen <= len(hello); {
		length := int(hello[off+3])<<8 | int(hello[off+4])
		body := off + recordHeaderLen
		pos += copy(out[body:min(body+length, len(out))], msg[pos:])
		off = body + length
	}
	return out, nil
}

// zeroPSKSecrets zeroes, in a pre_shared_key extension body (RFC 8446
// section 4.2.11), each identity, its obfuscated_ticket_age and each
// binder, leaving the length fields. A body that does not parse is zeroed
// whole past its first two bytes: nothing in it is kept.
func zeroPSKSecrets(body []byte) {
	s := cryptobyte.String(body)
	var ids, binders cryptobyte.String
	ok := s.ReadUint16LengthPrefixed(&ids) && s.ReadUint16LengthPrefixed(&binders)
	for ok && !ids.Empty() {
		var id []byte
		var age []byte
		ok = ids.ReadUint16LengthPrefixed((*cryptobyte.String)(&id)) && ids.ReadBytes(&age, 4)
		clear(id)
		clear(age)
	}
	for ok && !binders.Empty() {
		var b []byte
		ok = binders.ReadUint8LengthPrefixed((*cryptobyte.String)(&b))
		clear(b)
	}
	if !ok && len(body) > 2 {
		clear(body[2:])
	}
}
