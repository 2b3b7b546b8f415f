package main

import (
	"fmt"
	"strconv"
	"strings"
)

// vocab is the word lists plaintext HTTP is made of.
type vocab struct {
	hosts   []string
	agents  []agent
	words   []string
	langs   []string
	cookies []string
	types   []string // of the text bodies
}

// agent is a client style: its User-Agent and the order and set of headers
// it sends.
type agent struct {
	ua    string
	style string // "chrome", "firefox", "safari", "curl", "python", "go"
}

func newVocab() vocab {
	return vocab{
		hosts: []string{"www.example.com", "example.com", "api.example.net", "static.example.org",
			"shop.example.com", "cdn.example.net", "blog.example.org", "images.example.com"},
		agents: []agent{
			{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "chrome"},
			{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36", "chrome"},
			{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Mobile Safari/537.36", "chrome"},
			{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:134.0) Gecko/20100101 Firefox/134.0", "firefox"},
			{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "firefox"},
			{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15", "safari"},
			{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1", "safari"},
			{"curl/8.5.0", "curl"},
			{"curl/7.88.1", "curl"},
			{"python-requests/2.32.3", "python"},
			{"Go-http-client/1.1", "go"},
		},
		words: []string{"alpha", "river", "stone", "cloud", "orange", "pixel", "garden", "signal", "copper",
			"window", "forest", "planet", "silver", "rocket", "market", "castle", "harbor", "violet", "summer",
			"winter", "engine", "bridge", "canyon", "meadow", "lantern", "falcon", "puzzle", "thunder"},
		langs: []string{"en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
			"en-GB,en;q=0.9", "es-ES,es;q=0.9", "ja,en-US;q=0.9,en;q=0.8", "pt-BR,pt;q=0.9,en;q=0.8"},
		cookies: []string{"session", "sid", "_ga", "_gid", "theme", "lang", "csrftoken", "cart", "consent", "uid", "ab_test", "_fbp"},
		types:   []string{"text/html; charset=utf-8", "application/json", "text/css", "application/javascript", "text/plain; charset=utf-8"},
	}
}

func (g *generator) word() string { return g.voc.words[g.rng.IntN(len(g.voc.words))] }

func (g *generator) hexString(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

// requestLine draws a method and a path.
func (g *generator) requestLine() (method, path string) {
	switch r := g.rng.IntN(100); {
	case r < 75:
		method = "GET"
	case r < 87:
		method = "POST"
	case r < 91:
		method = "HEAD"
	case r < 94:
		method = "PUT"
	case r < 96:
		method = "DELETE"
	case r < 98:
		method = "OPTIONS"
	default:
		method = "PATCH"
	}
	switch g.rng.IntN(9) {
	case 0:
		path = "/"
	case 1:
		path = "/index.html"
	case 2:
		path = fmt.Sprintf("/api/v1/%s/%d", g.word(), g.rng.IntN(100000))
	case 3:
		path = fmt.Sprintf("/search?q=%s+%s&page=%d", g.word(), g.word(), 1+g.rng.IntN(20))
	case 4:
		path = fmt.Sprintf("/static/js/app.%s.js", g.hexString(8))
	case 5:
		path = fmt.Sprintf("/images/%s-%d.png", g.word(), g.rng.IntN(500))
	case 6:
		path = fmt.Sprintf("/%s/%s?utm_source=%s&id=%s", g.word(), g.word(), g.word(), g.hexString(12))
	case 7:
		path = "/login"
	default:
		path = fmt.Sprintf("/products/%d/reviews?sort=%s", g.rng.IntN(9999), g.word())
	}
	return method, path
}

// requestHead builds a request head (and body for POST, PUT, PATCH) in the
// header order of the agent's style.
func (g *generator) requestHead(method, path, host string, ai int) []byte {
	a := g.voc.agents[ai]
	var body string
	if method == "POST" || method == "PUT" || method == "PATCH" {
		if g.rng.IntN(2) == 0 {
			body = fmt.Sprintf(`{"%s":"%s","id":%d,"token":"%s"}`, g.word(), g.word(), g.rng.IntN(1e6), g.hexString(8+g.rng.IntN(200)))
		} else {
			body = fmt.Sprintf("user=%s&pass=%s&remember=%d", g.word(), g.hexString(4+g.rng.IntN(60)), g.rng.IntN(2))
		}
	}
	ctype := "application/x-www-form-urlencoded"
	if strings.HasPrefix(body, "{") {
		ctype = "application/json"
	}
	var cookie string
	if n := g.rng.IntN(7); n > 0 && a.style != "curl" {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.voc.cookies[g.rng.IntN(len(g.voc.cookies))] + "=" + g.hexString(4+g.rng.IntN(40))
		}
		cookie = strings.Join(parts, "; ")
	}
	lang := g.voc.langs[g.rng.IntN(len(g.voc.langs))]
	var referer string
	if g.rng.IntN(3) == 0 {
		referer = "http://" + host + "/" + g.word()
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, path)
	h := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	bodyHeaders := func() {
		if body != "" {
			h("Content-Type", ctype)
			h("Content-Length", strconv.Itoa(len(body)))
		}
	}
	switch a.style {
	case "chrome":
		h("Host", host)
		h("Connection", "keep-alive")
		bodyHeaders()
		h("Upgrade-Insecure-Requests", "1")
		h("User-Agent", a.ua)
		h("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8")
		h("Referer", referer)
		h("Accept-Encoding", "gzip, deflate")
		h("Accept-Language", lang)
		h("Cookie", cookie)
	case "firefox":
		h("Host", host)
		h("User-Agent", a.ua)
		h("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h("Accept-Language", lang)
		h("Accept-Encoding", "gzip, deflate")
		bodyHeaders()
		h("Connection", "keep-alive")
		h("Referer", referer)
		h("Cookie", cookie)
		h("Upgrade-Insecure-Requests", "1")
		h("Priority", "u=0, i")
	case "safari":
		h("Host", host)
		bodyHeaders()
		h("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h("Accept-Language", lang)
		h("Connection", "keep-alive")
		h("Accept-Encoding", "gzip, deflate")
		h("User-Agent", a.ua)
		h("Referer", referer)
		h("Cookie", cookie)
	case "curl":
		h("Host", host)
		h("User-Agent", a.ua)
		h("Accept", "*/*")
		bodyHeaders()
	case "python":
		h("Host", host)
		h("User-Agent", a.ua)
		h("Accept-Encoding", "gzip, deflate")
		h("Accept", "*/*")
		h("Connection", "keep-alive")
		h("Cookie", cookie)
		bodyHeaders()
	default: // go
		h("Host", host)
		h("User-Agent", a.ua)
		if body != "" {
			h("Content-Length", strconv.Itoa(len(body)))
			h("Content-Type", ctype)
		}
		h("Cookie", cookie)
		h("Accept-Encoding", "gzip")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// httpDate is the IMF-fixdate layout of the Date header (RFC 9110 5.6.7).
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// responseHead is a status line and headers for a body of n bytes.
func (g *generator) responseHead(status int, ctype string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, statusText(status))
	b.WriteString("Server: nginx/1.24.0\r\n")
	b.WriteString("Date: " + g.now.UTC().Format(httpDate) + "\r\n")
	if status != 304 && status != 204 {
		b.WriteString("Content-Type: " + ctype + "\r\n")
		b.WriteString("Content-Length: " + strconv.Itoa(n) + "\r\n")
	}
	if status == 301 {
		b.WriteString("Location: /" + g.word() + "/\r\n")
	}
	if g.rng.IntN(4) == 0 {
		b.WriteString("Set-Cookie: " + g.voc.cookies[g.rng.IntN(len(g.voc.cookies))] + "=" + g.hexString(16) + "; Path=/; HttpOnly\r\n")
	}
	b.WriteString("Connection: keep-alive\r\n\r\n")
	return []byte(b.String())
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 304:
		return "Not Modified"
	case 404:
		return "Not Found"
	}
	return "Unknown"
}

// response is a full response to a request with the given method.
func (g *generator) response(method string) []byte {
	status := 200
	switch r := g.rng.IntN(100); {
	case r < 8:
		status = 304
	case r < 12:
		status = 404
	case r < 15:
		status = 301
	}
	if method == "OPTIONS" || method == "DELETE" {
		status = 204
	}
	n := 0
	if status == 200 || status == 404 || status == 301 {
		n = 120 + g.rng.IntN(20000)
	}
	ctype := g.voc.types[g.rng.IntN(len(g.voc.types))]
	head := g.responseHead(status, ctype, n)
	if method == "HEAD" || n == 0 {
		return head
	}
	off := g.rng.IntN(len(g.text) - n)
	return append(head, g.text[off:off+n]...)
}
