package fingerprint

import "strconv"

// JA3 returns the JA3 string of the hello:
// Version,Ciphers,Extensions,Groups,PointFormats.
func JA3(ch *ClientHello) string { return string(appendJA3(nil, ch, false)) }

// JA3N returns JA3 with the extension list sorted ascending, stable across
// extension-order randomisation.
func JA3N(ch *ClientHello) string { return string(appendJA3(nil, ch, true)) }

func appendJA3(b []byte, ch *ClientHello, sortExtensions bool) []byte {
	// spec: JA3 Version: the legacy_version field, never the record version
	// or supported_versions.
	b = strconv.AppendUint(b, uint64(ch.LegacyVersion), 10)
	b = append(b, ',')
	// spec: JA3 Ciphers: wire order, GREASE removed.
	b = appendDecimalList(b, withoutGREASE(ch.CipherSuites), '-')
	b = append(b, ',')
	// spec: JA3 Extensions: wire order, GREASE removed, padding kept.
	exts := make([]uint16, 0, len(ch.Extensions))
	for _, e := range ch.Extensions {
		if !e.GREASE() {
			exts = append(exts, uint16(e.Type))
		}
	}
	if sortExtensions {
		// spec: JA3N: the extension list sorted numerically ascending.
		exts = sortedCopy(exts)
	}
	b = appendDecimalList(b, exts, '-')
	b = append(b, ',')
	// spec: JA3 Groups: supported_groups in wire order, GREASE removed.
	b = appendDecimalList(b, withoutGREASE(ch.SupportedGroups), '-')
	b = append(b, ',')
	// spec: JA3 PointFormats: ec_point_formats bytes in order; a missing
	// field is the empty string.
	b = appendDecimalList(b, ch.ECPointFormats, '-')
	return b
}
