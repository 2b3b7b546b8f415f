package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// posixShells are the shells the commands are run with, where installed.
func posixShells(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"sh", "dash", "bash"} {
		if p, err := exec.LookPath(name); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no POSIX shell")
	}
	return out
}

// endOfArgs separates the arguments from the standard input in what the
// stand-in curl prints.
const endOfArgs = "--end-of-args--"

// runAsCurl runs command with a shell in which curl is a function that
// prints its arguments (NUL-terminated) and then copies its standard
// input: the argument vector (from "curl" on) and body the real shell
// gives curl.
func runAsCurl(t *testing.T, shell, command string) ([]string, []byte) {
	t.Helper()
	script := `curl() { printf '%s\0' "$@"; printf '%s\0' ` + endOfArgs + `; cat; }` + "\n" + command
	out, err := exec.Command(shell, "-c", script).Output()
	if err != nil {
		t.Fatalf("%s -c: %v\n%s", shell, err, command)
	}
	args := []string{"curl"}
	for {
		arg, rest, ok := bytes.Cut(out, []byte{0})
		if !ok {
			t.Fatalf("%s: no end of arguments in %q", shell, out)
		}
		out = rest
		if string(arg) == endOfArgs {
			return args, out
		}
		args = append(args, string(arg))
	}
}

func TestCurlCommand(t *testing.T) {
	shells := posixShells(t)
	binary := "\x00\xff'\n\x01\"$x`"
	jsonBody := "{\"a\":\"it's $HOME `id` \\\\ ' '' \\n\"}\n"
	jsonLen := strconv.Itoa(len(jsonBody))
	for _, tc := range []struct {
		name      string
		h         HTTPInfo
		target    string
		ordered   bool
		wantArgs  []string
		wantStdin string
		wantNotes []string // substrings, each in some note
	}{
		{
			name: "HTTP/1.1 GET keeps header order, drops Host, removes curl's Accept",
			h: HTTPInfo{Version: "HTTP/1.1", Method: "GET", Scheme: "https", Authority: "localhost:8443", Headers: [][2]string{
				{"Host", "localhost:8443"}, {"User-Agent", "Go-http-client/1.1"}, {"Accept-Encoding", "gzip"}}},
			target:  "/a?b=1&c=2",
			ordered: true,
			wantArgs: []string{"curl", "--http1.1", "-H", "User-Agent: Go-http-client/1.1", "-H", "Accept-Encoding: gzip",
				"-H", "Accept:", "https://localhost:8443/a?b=1&c=2"},
			wantNotes: []string{"TLS ClientHello", "Host"},
		},
		{
			name: "HTTP/2 POST: pseudo-headers left to curl, quotes and shell syntax in values and body",
			h: HTTPInfo{Version: "HTTP/2.0", Method: "POST", Scheme: "https", Authority: "h.example", Headers: [][2]string{
				{":method", "POST"}, {":authority", "h.example"}, {":scheme", "https"}, {":path", "/p"},
				{"content-type", "application/json"}, {"content-length", jsonLen}, {"user-agent", `it's "q" $HOME`},
				{"x-shell", "`id`; $(id) \\ | & > * ? ~ # ! é €"}},
				Body: jsonBody, BodyLength: int64(len(jsonBody))},
			target: "/p",
			wantArgs: []string{"curl", "--http2", "-H", "content-type: application/json", "-H", "content-length: " + jsonLen,
				"-H", `user-agent: it's "q" $HOME`, "-H", "x-shell: `id`; $(id) \\ | & > * ? ~ # ! é €", "-H", "Accept:",
				"--data-binary", jsonBody, "https://h.example/p"},
			wantNotes: []string{"TLS ClientHello", "Akamai", "lowercase", "not found"},
		},
		{
			name: "binary body is piped from base64; PUT; curl's Content-Type removed",
			h: HTTPInfo{Version: "HTTP/1.1", Method: "PUT", Scheme: "http", Authority: "127.0.0.1:80", Headers: [][2]string{
				{"Host", "127.0.0.1:80"}, {"Content-Length", "9"}},
				BodyBase64: base64.StdEncoding.EncodeToString([]byte(binary)), BodyLength: 9},
			target:  "/u",
			ordered: true,
			wantArgs: []string{"curl", "--http1.1", "-X", "PUT", "-H", "Content-Length: 9", "-H", "User-Agent:", "-H", "Accept:",
				"-H", "Content-Type:", "--data-binary", "@-", "http://127.0.0.1:80/u"},
			wantStdin: binary,
		},
		{
			name: "a text body starting with @ is piped, not read as a file name",
			h: HTTPInfo{Version: "HTTP/1.1", Method: "POST", Scheme: "http", Authority: "a", Headers: [][2]string{
				{"Host", "a"}, {"Content-Type", "text/plain"}}, Body: "@body-file", BodyLength: 10},
			target:  "/",
			ordered: true,
			wantArgs: []string{"curl", "--http1.1", "-H", "Content-Type: text/plain", "-H", "User-Agent:", "-H", "Accept:",
				"--data-binary", "@-", "http://a/"},
			wantStdin: "@body-file",
		},
		{
			name: "HEAD, an empty header value, a Host unlike the authority",
			h: HTTPInfo{Version: "HTTP/1.0", Method: "HEAD", Scheme: "http", Authority: "a", Headers: [][2]string{
				{"Host", "b"}, {"X-Empty", ""}, {"Accept", "*/*"}, {"User-Agent", "u"}}},
			target:  "/",
			ordered: true,
			wantArgs: []string{"curl", "--http1.0", "--head", "-H", "Host: b", "-H", "X-Empty;", "-H", "Accept: */*",
				"-H", "User-Agent: u", "http://a/"},
		},
		{
			name: "dot segments and glob characters in the target",
			h: HTTPInfo{Version: "HTTP/1.1", Method: "GET", Scheme: "https", Authority: "a",
				Headers: [][2]string{{"Host", "a"}, {"Accept", "*/*"}, {"User-Agent", "u"}}},
			target:   "/x/../y[1]{a,b}?q='1'",
			ordered:  true,
			wantArgs: []string{"curl", "--http1.1", "-H", "Accept: */*", "-H", "User-Agent: u", "--path-as-is", "--globoff", "https://a/x/../y[1]{a,b}?q='1'"},
		},
		{
			name: "OPTIONS * and an absolute-form target go as request targets",
			h: HTTPInfo{Version: "HTTP/1.1", Method: "OPTIONS", Scheme: "http", Authority: "a",
				Headers: [][2]string{{"Host", "a"}, {"Accept", "*/*"}, {"User-Agent", "u"}}},
			target:   "*",
			ordered:  true,
			wantArgs: []string{"curl", "--http1.1", "-X", "OPTIONS", "-H", "Accept: */*", "-H", "User-Agent: u", "--request-target", "*", "http://a/"},
		},
		{
			name: "cut body: Content-Length left to curl",
			h: HTTPInfo{Version: "HTTP/2.0", Method: "POST", Scheme: "http", Authority: "a", Headers: [][2]string{
				{":method", "POST"}, {"content-length", "100"}, {"content-type", "text/plain"}, {"accept", "*/*"}, {"user-agent", "u"}},
				Body: "0123456789", BodyLength: 100, BodyCut: true},
			target:  "/",
			ordered: true,
			wantArgs: []string{"curl", "--http2-prior-knowledge", "-H", "content-type: text/plain", "-H", "accept: */*", "-H", "user-agent: u",
				"--data-binary", "0123456789", "http://a/"},
			wantNotes: []string{"cut to the 10 bytes echoed of 100", "Content-Length is set by curl", "Akamai"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, notes := CurlCommand(&tc.h, tc.target, tc.ordered)
			for _, sh := range shells {
				args, stdin := runAsCurl(t, sh, cmd)
				if strings.Join(args, "\x00") != strings.Join(tc.wantArgs, "\x00") {
					t.Errorf("%s: arguments\n got %q\nwant %q\ncommand %s", sh, args, tc.wantArgs, cmd)
				}
				if string(stdin) != tc.wantStdin {
					t.Errorf("%s: stdin %q, want %q", sh, stdin, tc.wantStdin)
				}
			}
			for _, want := range tc.wantNotes {
				found := false
				for _, n := range notes {
					found = found || strings.Contains(n, want)
				}
				if !found {
					t.Errorf("no note mentions %q: %q", want, notes)
				}
			}
		})
	}
}

// TestShellQuote: every byte but NUL, and strings made of the characters
// shells treat specially, come back unchanged through real shells.
func TestShellQuote(t *testing.T) {
	shells := posixShells(t)
	words := []string{"", "plain", "-H", "a b", "'", "''", `'\''`, `"`, `\`, "$", "${HOME}", "`x`", "$(x)", "~", "~root",
		"a=b", "*", "?", "[a]", "{a,b}", "#", "!", "!!", ";", "&", "|", "<", ">", "\t", "\n", "a\nb", "é", "\xff\xfe"}
	var all []byte
	for b := 1; b < 256; b++ {
		words = append(words, string([]byte{byte(b)}))
		all = append(all, byte(b))
	}
	words = append(words, string(all))
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, shellQuote(w))
	}
	for _, sh := range shells {
		out, err := exec.Command(sh, "-c", `printf '%s\0' `+strings.Join(quoted, " ")).Output()
		if err != nil {
			t.Fatalf("%s: %v", sh, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(got) != len(words) {
			t.Fatalf("%s: %d words back, sent %d", sh, len(got), len(words))
		}
		for i := range words {
			if got[i] != words[i] {
				t.Errorf("%s: %q came back as %q (quoted %s)", sh, words[i], got[i], quoted[i])
			}
		}
	}
}

// TestCurlReplay runs the curl command of a report with the real curl
// against the echo: the replayed request's headers (names, values,
// order) and JA4H equal the original's, which no curl default or header
// order of curl's own may change.
func TestCurlReplay(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	shells := posixShells(t)
	srv := startEchoServer(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		h2     bool
		method string
		body   string
	}{
		{"HTTP/1.1 GET", false, "GET", ""},
		{"HTTP/1.1 POST", false, "POST", "it's a \"body\" with $HOME and `id`\n"},
		{"h2 GET", true, "GET", ""},
		{"h2 PUT", true, "PUT", "x=1&y='2'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, srv.tlsURL("/replay/a%20b?q=it's&r=[1]"), body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Quote", `it's "quoted" $(id)`)
			req.Header.Set("Cookie", "a=1; b='2'")
			if tc.body != "" {
				req.Header.Set("Content-Type", "text/plain")
			}
			resp, err := goClient(t, tc.h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var orig Report
			err = json.NewDecoder(resp.Body).Decode(&orig)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if orig.Curl == "" || orig.Fingerprints.JA4H == "" {
				t.Fatalf("report without curl or JA4H: %+v", orig)
			}
			for _, sh := range shells {
				cmd := exec.Command(sh, "-c", orig.Curl)
				// The echo's certificate as the CA; no user .curlrc, no proxy.
				home := t.TempDir()
				cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+ca, "HOME="+home, "CURL_HOME="+home, "XDG_CONFIG_HOME="+home,
					"NO_PROXY=*", "no_proxy=*")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s -c %s: %v", sh, orig.Curl, err)
				}
				var rep Report
				if err := json.Unmarshal(out, &rep); err != nil {
					t.Fatalf("%s: %v\n%s", sh, err, out)
				}
				if rep.HTTP.Version != orig.HTTP.Version || rep.HTTP.Method != orig.HTTP.Method || rep.HTTP.Path != orig.HTTP.Path ||
					rep.HTTP.Query != orig.HTTP.Query || rep.HTTP.Body != tc.body || rep.HTTP.Body != orig.HTTP.Body {
					t.Errorf("%s: replayed %+v\noriginal %+v", sh, rep.HTTP, orig.HTTP)
				}
				if got, want := regular(rep.HTTP.Headers), regular(orig.HTTP.Headers); got != want {
					t.Errorf("%s: replayed headers\n%s\noriginal\n%s\ncommand %s", sh, got, want, orig.Curl)
				}
				if rep.Fingerprints.JA4H != orig.Fingerprints.JA4H || rep.Fingerprints.JA4HRO != orig.Fingerprints.JA4HRO {
					t.Errorf("%s: JA4H %s / %s, original %s / %s", sh, rep.Fingerprints.JA4H, rep.Fingerprints.JA4HRO,
						orig.Fingerprints.JA4H, orig.Fingerprints.JA4HRO)
				}
			}
		})
	}
}

// regular lists the headers other than pseudo-headers, one per line.
func regular(hs [][2]string) string {
	var b strings.Builder
	for _, h := range hs {
		if !strings.HasPrefix(h[0], ":") {
			b.WriteString(h[0] + ": " + h[1] + "\n")
		}
	}
	return b.String()
}
