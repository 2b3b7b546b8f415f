package fingerprint

// IsGREASE reports whether v is one of the sixteen GREASE values of RFC 8701
// (0x0a0a, 0x1a1a, ... 0xfafa).
//
// spec: Common terms, GREASE: both bytes equal and each byte's low nibble 0xa;
// 0x0a1a is not GREASE.
func IsGREASE(v uint16) bool {
	hi, lo := byte(v>>8), byte(v)
	return hi == lo && lo&0x0f == 0x0a
}
