package fingerprint

import "strconv"

// Akamai returns the Akamai HTTP/2 fingerprint S|WU|P|PS of the connection.
func Akamai(c *HTTP2Conn) string {
	b := make([]byte, 0, 128)
	// spec: Akamai S: every setting of the first SETTINGS frame, wire order,
	// id:value joined with ';', unknown and GREASE ids by number.
	if len(c.Settings) > 0 {
		for i, s := range c.Settings[0].Settings {
			if i > 0 {
				b = append(b, ';')
			}
			b = strconv.AppendUint(b, uint64(s.ID), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(s.Value), 10)
		}
	}
	b = append(b, '|')
	// spec: Akamai WU: the first WINDOW_UPDATE on stream 0 before the first
	// HEADERS, else "00".
	wu := "00"
	for _, w := range c.WindowUpdates {
		if c.beforeFirstHeaders(w.Frame) && w.StreamID == 0 {
			wu = strconv.FormatUint(uint64(w.Increment), 10)
			break
		}
	}
	b = append(b, wu...)
	b = append(b, '|')
	// spec: Akamai P: PRIORITY frames before the first HEADERS as
	// stream:exclusive:dependency:weight (weight = wire byte + 1), else "0".
	n := 0
	for _, p := range c.Priorities {
		if !c.beforeFirstHeaders(p.Frame) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(p.StreamID), 10)
		b = append(b, ':')
		if p.Exclusive {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(p.DependsOn), 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(p.Weight), 10)
		n++
	}
	if n == 0 {
		b = append(b, '0')
	}
	b = append(b, '|')
	// spec: Akamai PS: pseudo-header order of the first HEADERS frame.
	if first := c.First; first != nil {
		b = appendPseudoLetters(b, first.Headers)
	}
	return string(b)
}

// appendPseudoLetters appends m, a, s, p for :method, :authority, :scheme,
// :path in the order sent, joined with ','; other pseudo-headers are left
// out.
func appendPseudoLetters(b []byte, hs []Header) []byte {
	n := 0
	for _, h := range hs {
		var c byte
		switch h.Name {
		case ":method":
			c = 'm'
		case ":authority":
			c = 'a'
		case ":scheme":
			c = 's'
		case ":path":
			c = 'p'
		default:
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, c)
		n++
	}
	return b
}

func (c *HTTP2Conn) beforeFirstHeaders(frame int) bool {
	return c.FirstHeaders < 0 || frame < c.FirstHeaders
}
