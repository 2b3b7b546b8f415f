package fingerprint

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
)

// JA3 returns the JA3 string of the hello:
// Version,Ciphers,Extensions,Groups,PointFormats.
func JA3(ch *ClientHello) string {
	var buf [1024]byte
	return string(appendJA3(buf[:0], ch, false))
}

// JA3N returns JA3 with the extension list sorted ascending, stable across
// extension-order randomisation.
func JA3N(ch *ClientHello) string {
	var buf [1024]byte
	return string(appendJA3(buf[:0], ch, true))
}

// JA3Hash returns md5hex(JA3(ch)) without keeping the string.
func JA3Hash(ch *ClientHello) string {
	var buf [1024]byte
	return md5Hex(appendJA3(buf[:0], ch, false))
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func appendJA3(b []byte, ch *ClientHello, sortExtensions bool) []byte {
	// spec: JA3 Version: the legacy_version field, never the record version
	// or supported_versions.
	b = strconv.AppendUint(b, uint64(ch.LegacyVersion), 10)
	b = append(b, ',')
	// spec: JA3 Ciphers: wire order, GREASE removed.
	b = appendDecimalsNoGREASE(b, ch.CipherSuites)
	b = append(b, ',')
	// spec: JA3 Extensions: wire order, GREASE removed, padding kept.
	var scratch [64]uint16
	exts := scratch[:0]
	for _, e := range ch.Extensions {
		if !e.GREASE() {
			exts = append(exts, uint16(e.Type))
		}
	}
	if sortExtensions {
		// spec: JA3N: the extension list sorted numerically ascending.
		slices.Sort(exts)
	}
	b = appendDecimalList(b, exts, '-')
	b = append(b, ',')
	// spec: JA3 Groups: supported_groups in wire order, GREASE removed.
	b = appendDecimalsNoGREASE(b, ch.SupportedGroups)
	b = append(b, ',')
	// spec: JA3 PointFormats: ec_point_formats bytes in order; a missing
	// field is the empty string.
	b = appendDecimalList(b, ch.ECPointFormats, '-')
	return b
}

// appendDecimalsNoGREASE appends the non-GREASE values in decimal, '-'.
func appendDecimalsNoGREASE[T ~uint16](b []byte, vs []T) []byte {
	n := 0
	for _, v := range vs {
		if IsGREASE(uint16(v)) {
			continue
		}
		if n > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(v), 10)
		n++
	}
	return b
}
