package fingerprint

import "slices"

// Transport is the JA4 protocol letter: how the hello travelled.
type Transport byte

// JA4 transports (spec: JA4 proto).
const (
	TransportTCP  Transport = 't'
	TransportQUIC Transport = 'q'
	TransportDTLS Transport = 'd'
)

// JA4Variant selects one of the four JA4 renderings.
type JA4Variant uint8

// The JA4 variants (spec: JA4 Variants).
const (
	JA4Hashed      JA4Variant = iota // JA4: sorted lists, hashed
	JA4Raw                           // JA4_r: sorted lists, raw
	JA4Original                      // JA4_o: wire order, hashed
	JA4RawOriginal                   // JA4_ro: wire order, raw
)

// JA4 returns the JA4 fingerprint of the hello sent over transport t.
func JA4(ch *ClientHello, t Transport) string { return JA4Of(ch, t, JA4Hashed) }

// JA4Of returns the chosen JA4 variant. Variants share part a.
func JA4Of(ch *ClientHello, t Transport, v JA4Variant) string {
	var store ja4Store
	in := newJA4Input(ch, &store)
	var buf [1024]byte
	return string(in.appendVariant(buf[:0], ch, t, v))
}

// JA4All returns JA4, JA4_r, JA4_o and JA4_ro, reading the lists once.
func JA4All(ch *ClientHello, t Transport) [4]string {
	var store ja4Store
	in := newJA4Input(ch, &store)
	var out [4]string
	var buf [1024]byte
	for v := JA4Hashed; v <= JA4RawOriginal; v++ {
		out[v] = string(in.appendVariant(buf[:0], ch, t, v))
	}
	return out
}

// ja4Input holds the GREASE-free lists every variant is built from. The
// arrays keep a typical hello's lists off the heap; longer lists grow.
type ja4Input struct {
	ciphers, sortedCiphers []uint16 // wire order; ascending
	exts                   []uint16 // wire order, SNI and ALPN included
	sortedExts             []uint16 // ascending, SNI and ALPN removed
	sigAlgs                []uint16 // extension 13 only, wire order
	hasSigAlgs             bool
}

// ja4Store is stack room for a typical hello's lists; longer lists grow
// onto the heap.
type ja4Store [5][64]uint16

func newJA4Input(ch *ClientHello, store *ja4Store) ja4Input {
	var in ja4Input
	in.ciphers = store[0][:0]
	for _, c := range ch.CipherSuites {
		if !IsGREASE(uint16(c)) {
			in.ciphers = append(in.ciphers, uint16(c))
		}
	}
	in.sortedCiphers = append(store[1][:0], in.ciphers...)
	slices.Sort(in.sortedCiphers)
	in.exts, in.sortedExts = store[2][:0], store[3][:0]
	for _, e := range ch.Extensions {
		if e.GREASE() {
			continue
		}
		in.exts = append(in.exts, uint16(e.Type))
		// spec: JA4 c: the sorted list leaves out SNI (0000) and ALPN (0010).
		if e.Type != ExtServerName && e.Type != ExtALPN {
			in.sortedExts = append(in.sortedExts, uint16(e.Type))
		}
		// spec: JA4 c: signature algorithms come only from extension 13.
		if e.Type == ExtSignatureAlgorithms {
			in.hasSigAlgs = true
		}
	}
	slices.Sort(in.sortedExts)
	in.sigAlgs = store[4][:0]
	for _, s := range ch.SignatureAlgorithms {
		if !IsGREASE(uint16(s)) {
			in.sigAlgs = append(in.sigAlgs, uint16(s))
		}
	}
	return in
}

func (in ja4Input) appendVariant(b []byte, ch *ClientHello, t Transport, v JA4Variant) []byte {
	raw := v == JA4Raw || v == JA4RawOriginal
	wire := v == JA4Original || v == JA4RawOriginal
	b = in.appendPartA(b, ch, t)

	// spec: JA4 b: cipher suites as hex4, sorted (wire order for _o/_ro).
	ciphers := in.sortedCiphers
	if wire {
		ciphers = in.ciphers
	}
	b = append(b, '_')
	if raw {
		b = appendHex4List(b, ciphers)
	} else {
		b = appendHashedList(b, ciphers, nil, false)
	}

	// spec: JA4 c: extensions sorted without SNI and ALPN; _o and _ro keep
	// the wire order and keep SNI and ALPN.
	exts := in.sortedExts
	if wire {
		exts = in.exts
	}
	b = append(b, '_')
	switch {
	case raw:
		// spec: JA4 Variants: JA4_r keeps the trailing '_' before an empty list.
		b = appendHex4List(b, exts)
		if in.hasSigAlgs {
			b = append(b, '_')
			b = appendHex4List(b, in.sigAlgs)
		}
	case len(in.sortedExts) == 0:
		// spec: JA4 c / Variants: 000000000000 when the sorted list without
		// SNI and ALPN is empty, for JA4 and JA4_o alike.
		b = append(b, emptyHash12...)
	default:
		b = appendHashedList(b, exts, in.sigAlgs, in.hasSigAlgs)
	}
	return b
}

// appendHashedList appends sha12 of list (hex4, ',') followed, when
// withSecond, by '_' and second; 000000000000 for an empty list.
func appendHashedList(b []byte, list, second []uint16, withSecond bool) []byte {
	if len(list) == 0 {
		// spec: JA4 b: 000000000000 when there are no (non-GREASE) ciphers.
		return append(b, emptyHash12...)
	}
	var scratch [1024]byte
	s := appendHex4List(scratch[:0], list)
	if withSecond {
		s = append(s, '_')
		s = appendHex4List(s, second)
	}
	return appendSHA12(b, s)
}

func (in ja4Input) appendPartA(b []byte, ch *ClientHello, t Transport) []byte {
	// spec: JA4 proto.
	b = append(b, byte(t))
	// spec: JA4 version: highest non-GREASE supported_versions value if the
	// extension is present, else legacy_version.
	version := ch.LegacyVersion
	if best, ok := highestVersion(ch.SupportedVersions); ok {
		version = best
	}
	b = append(b, ja4Version(version)...)
	// spec: JA4 sni: 'd' if server_name is present, else 'i'.
	if ch.HasExtension(ExtServerName) {
		b = append(b, 'd')
	} else {
		b = append(b, 'i')
	}
	// spec: JA4 NN and MM: non-GREASE counts, two digits, capped at 99.
	b = appendTwoDigits(b, len(in.ciphers))
	b = appendTwoDigits(b, len(in.exts))
	return appendJA4ALPN(b, ch.ALPN)
}

func highestVersion(vs []uint16) (uint16, bool) {
	var best uint16
	found := false
	for _, v := range vs {
		if !IsGREASE(v) && (!found || v > best) {
			best, found = v, true
		}
	}
	return best, found
}

// ja4Version maps a protocol version to its two JA4 characters.
func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// appendJA4ALPN implements spec: JA4 alpn. The first protocol's first and
// last byte, each replaced by '9' when not printable ASCII; "00" when ALPN
// is absent, empty, or its first protocol is empty. A one-character
// protocol "a" gives "aa".
func appendJA4ALPN(b []byte, alpn []string) []byte {
	if len(alpn) == 0 || alpn[0] == "" {
		return append(b, '0', '0')
	}
	p := alpn[0]
	return append(b, ja4ALPNChar(p[0]), ja4ALPNChar(p[len(p)-1]))
}

func ja4ALPNChar(c byte) byte {
	if c < 0x20 || c > 0x7e {
		return '9'
	}
	return c
}
