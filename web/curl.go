package web

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// CurlCommand returns a curl command line (for a POSIX shell) that repeats
// the request h describes as far as curl can, and notes on what it cannot
// repeat. target is the request-target as sent (r.RequestURI: the raw
// path and query, "*", or an absolute URL); ordered says whether
// h.Headers are in wire order (from the capture record) rather than in
// the order net/http kept.
//
// curl writes Host first, then its own User-Agent and Accept unless -H
// replaces or removes them, then the -H headers in the order given, then
// its own Content-Length and Content-Type unless -H gives them. So every
// header is given with -H in the client's order, curl's own headers the
// client did not send are removed ("-H 'Accept:'"), and Host is left to
// the URL when it equals the authority.
func CurlCommand(h *HTTPInfo, target string, ordered bool) (string, []string) {
	notes := make([]string, 0, 6)
	var line shellLine
	line.b.Grow(64 + len(h.Body))
	line.word("curl")
	switch {
	case h.Version == "HTTP/1.0":
		line.word("--http1.0")
	case h.Version == "HTTP/1.1":
		line.word("--http1.1")
	case strings.HasPrefix(h.Version, "HTTP/2") && h.Scheme == "https":
		line.word("--http2")
	case strings.HasPrefix(h.Version, "HTTP/2"):
		line.word("--http2-prior-knowledge")
	case strings.HasPrefix(h.Version, "HTTP/3"):
		line.word("--http3-only")
	}
	h2 := strings.HasPrefix(h.Version, "HTTP/2")

	body := []byte(h.Body)
	if h.BodyBase64 != "" {
		body, _ = base64.StdEncoding.DecodeString(h.BodyBase64)
	}
	hasBody := len(body) > 0
	switch {
	case h.Method == "HEAD" && !hasBody:
		line.word("--head")
	case h.Method == "GET" && !hasBody, h.Method == "POST" && hasBody:
		// curl's default for the body it is given
	default:
		line.word("-X")
		line.word(h.Method)
	}

	var sawUA, sawAccept, sawType, sawExpect bool
	for _, hd := range h.Headers {
		name, value := hd[0], hd[1]
		if strings.HasPrefix(name, ":") {
			continue // pseudo-headers: curl makes its own from the URL and method
		}
		switch strings.ToLower(name) {
		case "host":
			if value == h.Authority {
				continue // curl sends the URL's authority, first, as this client did
			}
		case "content-length":
			// Kept where the client put it when it counts the body curl
			// sends; otherwise curl counts the body itself.
			if h.BodyCut || value != strconv.Itoa(len(body)) {
				notes = append(notes, "Content-Length is set by curl from the body it sends, after the -H headers")
				continue
			}
		case "user-agent":
			sawUA = true
		case "accept":
			sawAccept = true
		case "content-type":
			sawType = true
		case "expect":
			sawExpect = true
		}
		if value == "" {
			line.word("-H")
			line.word(name, ";") // "Name;" sends an empty header; "Name:" would remove it
		} else {
			line.word("-H")
			line.word(name, ": ", value)
		}
	}
	// Headers curl adds on its own when the client did not send them.
	if !sawUA {
		line.word("-H")
		line.word("User-Agent:")
	}
	if !sawAccept {
		line.word("-H")
		line.word("Accept:")
	}
	if hasBody && !sawType {
		line.word("-H")
		line.word("Content-Type:")
	}
	if hasBody && !sawExpect && h.Version == "HTTP/1.1" && len(body) > 1024 {
		line.word("-H")
		line.word("Expect:") // curl asks for 100-continue before a large body
	}

	prefix := ""
	if hasBody {
		text := h.BodyBase64 == "" && !strings.ContainsRune(h.Body, 0) && !strings.HasPrefix(h.Body, "@")
		if text {
			line.word("--data-binary")
			line.word(h.Body)
		} else {
			// A shell word cannot hold a NUL byte, --data-binary reads a
			// file for a leading @, and the command must stay UTF-8 text
			// in JSON: such a body is piped in from base64.
			prefix = "printf %s " + shellQuote(base64.StdEncoding.EncodeToString(body)) + " | base64 -d | "
			line.word("--data-binary")
			line.word("@-")
		}
		if h.BodyCut {
			notes = append(notes, "the body was cut to the "+strconv.Itoa(len(body))+" bytes echoed of "+
				strconv.FormatInt(h.BodyLength, 10)+": the command sends those")
		}
	}

	base := h.Scheme + "://" + h.Authority
	url := base + target
	switch {
	case target == "*":
		line.word("--request-target")
		line.word("*")
		url = base + "/"
	case !strings.HasPrefix(target, "/"):
		// An absolute-form target (as sent to a proxy) goes as sent.
		line.word("--request-target")
		line.word(target)
		url = base + "/"
	default:
		if strings.Contains(target, "/./") || strings.Contains(target, "/../") ||
			strings.HasSuffix(target, "/.") || strings.HasSuffix(target, "/..") {
			line.word("--path-as-is") // curl would remove the dot segments
		}
		if strings.ContainsAny(target, "[]{}") {
			line.word("--globoff") // curl would expand [1-3] and {a,b}
		}
	}
	if h.Authority == "" {
		notes = append(notes, "the request named no host: put the server's address in the URL")
	}
	line.word(url)

	if h.Scheme == "https" {
		notes = append(notes, "the TLS ClientHello is curl's (its TLS library's cipher suites, extensions, their order, groups, GREASE): JA3, JA4 and PeetPrint will be curl's, not this client's")
	}
	if h2 {
		notes = append(notes, "the HTTP/2 SETTINGS, WINDOW_UPDATE and PRIORITY frames and the pseudo-header order (m,p,s,a) are curl's: the Akamai fingerprint will be curl's",
			"over HTTP/2 curl sends every header name in lowercase")
	}
	notes = append(notes, "curl writes the Host header (or :authority) itself, from the URL, before the -H headers")
	if !ordered {
		notes = append(notes, "this request's capture record was not found: the headers are in the order net/http kept, not the order sent")
	}

	return prefix + line.b.String(), notes
}

// shellLine builds a command line word by word, each quoted for a POSIX
// shell (see shellQuote).
type shellLine struct{ b strings.Builder }

// word appends one word made of the parts joined, quoted as one.
func (l *shellLine) word(parts ...string) {
	if l.b.Len() > 0 {
		l.b.WriteByte(' ')
	}
	safe := true
	n := 0
	for _, p := range parts {
		n += len(p)
		safe = safe && shellSafe(p)
	}
	if safe && n > 0 {
		for _, p := range parts {
			l.b.WriteString(p)
		}
		return
	}
	l.b.WriteByte('\'')
	for _, p := range parts {
		for {
			i := strings.IndexByte(p, '\'')
			if i < 0 {
				l.b.WriteString(p)
				break
			}
			l.b.WriteString(p[:i])
			l.b.WriteString(`'\''`)
			p = p[i+1:]
		}
	}
	l.b.WriteByte('\'')
}

// shellSafe reports whether every byte of s is one no shell treats
// specially.
func shellSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_./:=@%+,", c) >= 0) {
			return false
		}
	}
	return true
}

// shellQuote quotes s as one word for a POSIX shell: bare when every
// character is one no shell treats specially, otherwise in single quotes,
// where every character stands for itself and a single quote is written
// as '\” (close, escaped quote, reopen).
func shellQuote(s string) string {
	var l shellLine
	l.word(s)
	return l.b.String()
}
