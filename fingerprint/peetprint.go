package fingerprint

import (
	"bytes"
	"slices"
	"strconv"
)

// PeetPrint returns the tls.peet.ws fingerprint string of the hello.
func PeetPrint(ch *ClientHello) string {
	var buf [2048]byte
	return string(appendPeetPrint(buf[:0], ch))
}

func appendPeetPrint(b []byte, ch *ClientHello) []byte {
	// spec: PeetPrint 1: supported_versions in wire order, GREASE as "GREASE".
	b = appendGREASENamed(b, ch.SupportedVersions, false)
	b = append(b, '|')
	// spec: PeetPrint 2: ALPN mapped http/1.0→1.0, http/1.1→1.1, h2→2,
	// others dropped.
	n := 0
	for _, p := range ch.ALPN {
		var short string
		switch p {
		case "http/1.0":
			short = "1.0"
		case "http/1.1":
			short = "1.1"
		case "h2":
			short = "2"
		default:
			continue
		}
		if n > 0 {
			b = append(b, '-')
		}
		b = append(b, short...)
		n++
	}
	b = append(b, '|')
	// spec: PeetPrint 3: supported_groups, GREASE and 6969 as "GREASE".
	b = appendGREASENamed(b, ch.SupportedGroups, true)
	b = append(b, '|')
	// spec: PeetPrint 4: signature_algorithms as plain decimal numbers.
	b = appendDecimalList(b, ch.SignatureAlgorithms, '-')
	b = append(b, '|')
	// spec: PeetPrint 5: the first psk_key_exchange_modes byte, else 0.
	if len(ch.PSKKeyExchangeModes) > 0 {
		b = strconv.AppendUint(b, uint64(ch.PSKKeyExchangeModes[0]), 10)
	} else {
		b = append(b, '0')
	}
	b = append(b, '|')
	// spec: PeetPrint 6: compress_certificate algorithm ids.
	b = appendDecimalList(b, ch.CertCompressionAlgs, '-')
	b = append(b, '|')
	// spec: PeetPrint 7: cipher suites in wire order, GREASE as "GREASE".
	b = appendGREASENamed(b, ch.CipherSuites, false)
	b = append(b, '|')
	// spec: PeetPrint 8: extension ids as decimal strings sorted as strings,
	// then one "GREASE" per GREASE extension.
	var scratch [64]uint16
	ids := scratch[:0]
	greases := 0
	for _, e := range ch.Extensions {
		if e.GREASE() {
			greases++
			continue
		}
		ids = append(ids, uint16(e.Type))
	}
	slices.SortFunc(ids, compareAsDecimalStrings)
	for i, id := range ids {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(id), 10)
	}
	for i := 0; i < greases; i++ {
		if len(ids) > 0 || i > 0 {
			b = append(b, '-')
		}
		b = append(b, "GREASE"...)
	}
	return b
}

// peetGREASEGroup is the supported_groups value tls.peet.ws also prints as
// GREASE.
const peetGREASEGroup = 6969

func appendGREASENamed[T ~uint16](b []byte, vs []T, group6969 bool) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, '-')
		}
		if IsGREASE(uint16(v)) || (group6969 && v == peetGREASEGroup) {
			b = append(b, "GREASE"...)
		} else {
			b = strconv.AppendUint(b, uint64(v), 10)
		}
	}
	return b
}

// compareAsDecimalStrings orders two values as their decimal strings
// compare ("10" < "5").
func compareAsDecimalStrings(x, y uint16) int {
	var bx, by [5]byte
	return bytes.Compare(strconv.AppendUint(bx[:0], uint64(x), 10), strconv.AppendUint(by[:0], uint64(y), 10))
}
