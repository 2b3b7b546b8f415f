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
	return [3]string{in.render(JA4HHashed), in.render(JA4HRaw), in.render(JA4HRawOriginal)}
}

type cookiePair struct{ name, pair string }

type ja4hInput struct {
	a       string
	names   string // header names joined with ','
	cookies []cookiePair
}

func newJA4HInput(r *HTTPRequest) ja4hInput {
	var (
		hasCookie, hasReferer bool
		names                 []string
		lang                  string
		haveLang              bool
		cookies               []cookiePair
	)
	for _, h := range r.Headers {
		lower := strings.ToLower(h.Name)
		switch {
		case strings.HasPrefix(h.Name, ":"):
			// spec: JA4H Pseudo-headers: excluded.
			continue
		case lower == "cookie":
			hasCookie = true
			// spec: JA4H c: all Cookie headers, split on ';', trimmed; the
			// name is what precedes the first '='.
			for _, part := range strings.Split(h.Value, ";") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				name, _, _ := strings.Cut(part, "=")
				cookies = append(cookies, cookiePair{name: name, pair: part})
			}
			continue
		case strings.HasPrefix(lower, "cookie"):
			// spec: JA4H Corner cases: a name starting with "cookie" is excluded.
			continue
		}
		// spec: JA4H Corner cases: 'r' when a header name contains "referer".
		if strings.Contains(lower, "referer") {
			hasReferer = true
		}
		if lower == "referer" {
			continue // spec: JA4H NN and b: Referer excluded.
		}
		if lower == "accept-language" && !haveLang {
			lang, haveLang = h.Value, true
		}
		names = append(names, h.Name)
	}

	a := make([]byte, 0, 12)
	// spec: JA4H method: lowercased, first two characters.
	method := strings.ToLower(r.Method)
	a = append(a, method[:min(2, len(method))]...)
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
	a = appendTwoDigits(a, len(names))
	a = append(a, ja4hLang(lang, haveLang)...)
	return ja4hInput{a: string(a), names: strings.Join(names, ","), cookies: cookies}
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
	cookies := in.cookies
	if v != JA4HRawOriginal {
		// spec: JA4H c: cookie names sorted byte-wise; equal names keep their
		// order (stable sort).
		cookies = slices.Clone(cookies)
		slices.SortStableFunc(cookies, func(x, y cookiePair) int { return strings.Compare(x.name, y.name) })
	}
	var names, pairs []string
	for _, c := range cookies {
		names = append(names, c.name)
		pairs = append(pairs, c.pair)
	}
	cookieNames, cookiePairs := strings.Join(names, ","), strings.Join(pairs, ",")
	if v == JA4HHashed {
		// spec: JA4H b: sha12 of the names; no header left hashes the empty
		// string. c and d: 000000000000 without cookies.
		c, d := emptyHash12, emptyHash12
		if len(cookies) > 0 {
			c, d = sha12([]byte(cookieNames)), sha12([]byte(cookiePairs))
		}
		return in.a + "_" + sha12([]byte(in.names)) + "_" + c + "_" + d
	}
	if len(cookies) == 0 {
		// spec: JA4H Corner cases: JA4H_r without cookies ends "a_b_".
		return in.a + "_" + in.names + "_"
	}
	return in.a + "_" + in.names + "_" + cookieNames + "_" + cookiePairs
}
