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
	var notes []string
	args := []string{"curl"}
	switch {
	case h.Version == "HTTP/1.0":
		args = append(args, "--http1.0")
	case h.Version == "HTTP/1.1":
		args = append(args, "--http1.1")
	case strings.HasPrefix(h.Version, "HTTP/2") && h.Scheme == "https":
		args = append(args, "--http2")
	case strings.HasPrefix(h.Version, "HTTP/2"):
		args = append(args, "--http2-prior-knowledge")
	case strings.HasPrefix(h.Version, "HTTP/3"):
		args = append(args, "--http3-only")
	}
	h2 := strings.HasPrefix(h.Version, "HTTP/2")

	body := []byte(h.Body)
	if h.BodyBase64 != "" {
		body, _ = base64.StdEncoding.DecodeString(h.BodyBase64)
	}
	hasBody := len(body) > 0
	switch {
	case h.Method == "HEAD" && !hasBody:
		args = append(args, "--head")
	case h.Method == "GET" && !hasBody, h.Method == "POST" && hasBody:
		// curl's default for the body it is given
	default:
		args = append(args, "-X", h.Method)
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
			args = append(args, "-H", name+";") // "Name;" sends an empty header; "Name:" would remove it
		} else {
			args = append(args, "-H", name+": "+value)
		}
	}
	// Headers curl adds on its own when the client did not send them.
	if !sawUA {
		args = append(args, "-H", "User-Agent:")
	}
	if !sawAccept {
		args = append(args, "-H", "Accept:")
	}
	if hasBody && !sawType {
		args = append(args, "-H", "Content-Type:")
	}
	if hasBody && !sawExpect && h.Version == "HTTP/1.1" && len(body) > 1024 {
		args = append(args, "-H", "Expect:") // curl asks for 100-continue before a large body
	}

	prefix := ""
	if hasBody {
		text := h.BodyBase64 == "" && !strings.ContainsRune(h.Body, 0) && !strings.HasPrefix(h.Body, "@")
		if text {
			args = append(args, "--data-binary", h.Body)
		} else {
			// A shell word cannot hold a NUL byte, --data-binary reads a
			// file for a leading @, and the command must stay UTF-8 text
			// in JSON: such a body is piped in from base64.
			prefix = "printf %s " + shellQuote(base64.StdEncoding.EncodeToString(body)) + " | base64 -d | "
			args = append(args, "--data-binary", "@-")
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
		args = append(args, "--request-target", "*")
		url = base + "/"
	case !strings.HasPrefix(target, "/"):
		// An absolute-form target (as sent to a proxy) goes as sent.
		args = append(args, "--request-target", target)
		url = base + "/"
	default:
		if strings.Contains(target, "/./") || strings.Contains(target, "/../") ||
			strings.HasSuffix(target, "/.") || strings.HasSuffix(target, "/..") {
			args = append(args, "--path-as-is") // curl would remove the dot segments
		}
		if strings.ContainsAny(target, "[]{}") {
			args = append(args, "--globoff") // curl would expand [1-3] and {a,b}
		}
	}
	if h.Authority == "" {
		notes = append(notes, "the request named no host: put the server's address in the URL")
	}
	args = append(args, url)

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

	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return prefix + strings.Join(quoted, " "), notes
}

// shellQuote quotes s as one word for a POSIX shell: bare when every
// character is one no shell treats specially, otherwise in single quotes,
// where every character stands for itself and a single quote is written
// as '\” (close, escaped quote, reopen).
func shellQuote(s string) string {
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		c := s[i]
		safe = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_./:=@%+,", c) >= 0
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
