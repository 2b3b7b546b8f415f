package fingerprint

import (
	"slices"
	"strings"
)

// JA4HVariant selects one of the JA4H renderings.
type JA4HVariant uint8

// The JA4H variants (spec: JA4H Variants).
const (
	JA4HHashed      JA4HVariant = iota // JA4H: cookies sorted, hashed
	JA4HRaw                            // JA4H_r: cookies sorted, raw
	JA4HRawOriginal                    // JA4H_ro: cookies as sent, raw
)

// JA4H returns the JA4H fingerprint of the request.
func JA4H(r *HTTPRequest) string { return JA4HOf(r, JA4HHashed) }

// JA4HOf returns the chosen JA4H variant.
func JA4HOf(r *HTTPRequest, v JA4HVariant) string {
	in := newJA4HInput(r)
	return in.render(v)
}

// JA4HAll returns JA4H, JA4H_r and JA4H_ro, reading the headers once.
func JA4HAll(r *HTTPRequest) [3]string {
	in := newJA4HInput(r)
	sorted := in.sortedCookies()
	return [3]string{in.renderWith(JA4HHashed, sorted), in.renderWith(JA4HRaw, sorted), in.renderWith(JA4HRawOriginal, in.cookies)}
}

type cookiePair struct{ name, pair string }

type ja4hInput struct {
	a       string
	names   []byte // header names joined with ','
	cookies []cookiePair
}

func newJA4HInput(r *HTTPRequest) ja4hInput {
	var (
		hasCookie, hasReferer bool
		names                 = make([]byte, 0, 256)
		count                 int
		lang                  string
		haveLang              bool
		cookies               []cookiePair
	)
	for _, h := range r.Headers {
		switch {
		case strings.HasPrefix(h.Name, ":"):
			// spec: JA4H Pseudo-headers: excluded.
			continue
		case strings.EqualFold(h.Name, "cookie"):
			hasCookie = true
			// spec: JA4H c: all Cookie headers, split on ';', trimmed; the
			// name is what precedes the first '='.
			for rest := h.Value; rest != ""; {
				var part string
				part, rest, _ = strings.Cut(rest, ";")
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				name, _, _ := strings.Cut(part, "=")
				cookies = append(cookies, cookiePair{name: name, pair: part})
			}
			continue
		case hasPrefixFold(h.Name, "cookie"):
			// spec: JA4H Corner cases: a name starting with "cookie" is excluded.
			continue
		}
		// spec: JA4H Corner cases: 'r' when a header name contains "referer".
		if containsFold(h.Name, "referer") {
			hasReferer = true
			if len(h.Name) == len("referer") {
				continue // spec: JA4H NN and b: Referer excluded.
			}
		}
		if !haveLang && strings.EqualFold(h.Name, "accept-language") {
			lang, haveLang = h.Value, true
		}
		if count > 0 {
			names = append(names, ',')
		}
		names = append(names, h.Name...)
		count++
	}

	a := make([]byte, 0, 12)
	// spec: JA4H method: lowercased, first two characters.
	for i := 0; i < len(r.Method) && i < 2; i++ {
		a = append(a, lowerASCII(r.Method[i]))
	}
	// spec: JA4H version.
	switch r.Version {
	case HTTP10:
		a = append(a, "10"...)
	case HTTP11:
		a = append(a, "11"...)
	case HTTP2:
		a = append(a, "20"...)
	case HTTP3:
		a = append(a, "30"...)
	default:
		a = append(a, "00"...)
	}
	a = append(a, flag(hasCookie, 'c'), flag(hasReferer, 'r'))
	// spec: JA4H NN: header names without Cookie, Referer, pseudo-headers.
	a = appendTwoDigits(a, count)
	a = append(a, ja4hLang(lang, haveLang)...)
	return ja4hInput{a: string(a), names: names, cookies: cookies}
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold is strings.HasPrefix with ASCII case folding.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// containsFold reports whether s contains the lowercase ASCII word sub,
// ignoring case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func flag(set bool, c byte) byte {
	if set {
		return c
	}
	return 'n'
}

// ja4hLang implements spec: JA4H lang.
func ja4hLang(v string, present bool) string {
	if !present {
		return "0000"
	}
	v = strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(v, "-", ""), ";", ","))
	first, _, _ := strings.Cut(v, ",")
	first = first[:min(4, len(first))]
	return first + strings.Repeat("0", 4-len(first))
}

func (in ja4hInput) render(v JA4HVariant) string {
	if v == JA4HRawOriginal {
		return in.renderWith(v, in.cookies)
	}
	return in.renderWith(v, in.sortedCookies())
}

// sortedCookies returns the cookies sorted by name, byte-wise; equal names
// keep their order (spec: JA4H c, stable sort).
func (in ja4hInput) sortedCookies() []cookiePair {
	if len(in.cookies) < 2 {
		return in.cookies
	}
	sorted := slices.Clone(in.cookies)
	slices.SortStableFunc(sorted, func(x, y cookiePair) int { return strings.Compare(x.name, y.name) })
	return sorted
}

// renderWith renders variant v with the cookies in the given order.
func (in ja4hInput) renderWith(v JA4HVariant, cookies []cookiePair) string {
	var nbuf, pbuf [512]byte
	nb, pb := nbuf[:0], pbuf[:0]
	for i, c := range cookies {
		if i > 0 {
			nb, pb = append(nb, ','), append(pb, ',')
		}
		nb, pb = append(nb, c.name...), append(pb, c.pair...)
	}
	var buf [1024]byte
	b := buf[:0]
	b = append(append(b, in.a...), '_')
	if v == JA4HHashed {
		// spec: JA4H b: sha12 of the names; no header left hashes the empty
		// string. c and d: 000000000000 without cookies.
		b = appendSHA12(b, in.names)
		if len(cookies) == 0 {
			return string(append(b, "_"+emptyHash12+"_"+emptyHash12...))
		}
		b = appendSHA12(append(b, '_'), nb)
		b = appendSHA12(append(b, '_'), pb)
		return string(b)
	}
	b = append(append(b, in.names...), '_')
	if len(cookies) == 0 {
		// spec: JA4H Corner cases: JA4H_r without cookies ends "a_b_".
		return string(b)
	}
	b = append(append(append(b, nb...), '_'), pb...)
	return string(b)
}
