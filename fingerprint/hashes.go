package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// MD5Hex returns the lowercase hex MD5 of s (spec: Common terms, md5hex).
func MD5Hex(s string) string { return md5Hex([]byte(s)) }

// emptyHash12 stands for an empty list in JA4 and JA4H.
const emptyHash12 = "000000000000"

// sha12 returns the first 12 lowercase hex characters of SHA-256 of b
// (spec: Common terms, sha12).
func sha12(b []byte) string { return string(appendSHA12(nil, b)) }

func appendSHA12(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:6])
}

// appendHex4 appends v as 4 lowercase hex digits (spec: Common terms, hex4).
func appendHex4(b []byte, v uint16) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
}

// appendHex4List appends the values as hex4 joined with ','.
func appendHex4List(b []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHex4(b, v)
	}
	return b
}

// appendDecimalList appends the values in decimal joined with sep.
func appendDecimalList[T ~uint16 | ~uint8](b []byte, vs []T, sep byte) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, sep)
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

// appendTwoDigits appends n capped at 99 as two zero-padded digits.
func appendTwoDigits(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}
