package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/pcapsynth"
)

// goldenDir holds the real-client captures whose expected values come from
// tshark and read-tls-client-hello (see scripts/capture-goldens.sh).
const goldenDir = "../../fingerprint/testdata/golden"

func runFP(t *testing.T, args ...string) (code int, records []map[string]any, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"fp"}, args...), func(string) string { return "" },
		strings.NewReader(""), &out, &errOut)
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line is not JSON: %v: %s", err, sc.Text())
		}
		records = append(records, m)
	}
	return code, records, errOut.String()
}

// TestAnalyzePrintsTsharkJA3 runs fp analyze over every golden hello and
// checks the JA3 against tshark's and the JA4 against read-tls-client-hello.
func TestAnalyzePrintsTsharkJA3(t *testing.T) {
	files := golden.Glob(t, goldenDir)
	if len(files) < 12 {
		t.Fatalf("%d golden files, want at least 12", len(files))
	}
	dir := t.TempDir()
	var args []string
	want := map[string]map[string]string{}
	for _, f := range files {
		bin := filepath.Join(dir, f.Name+".bin")
		if err := os.WriteFile(bin, f.MustHex(t, "hello.hex"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, bin)
		want[bin] = f.Values("expect-tls.txt")
	}
	code, recs, stderr := runFP(t, append([]string{"analyze"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(recs) != len(args) {
		t.Fatalf("%d records for %d files", len(recs), len(args))
	}
	for _, r := range recs {
		exp := want[r["file"].(string)]
		for _, k := range []string{"ja3", "ja3_hash", "ja4"} {
			if r[k] != exp[k] {
				t.Errorf("%s %s = %v, want %s", r["file"], k, r[k], exp[k])
			}
		}
		if r["kind"] != "tls" || r["index"] != 1.0 {
			t.Errorf("%s: kind %v index %v", r["file"], r["kind"], r["index"])
		}
	}
}

func TestAnalyzeEmbeddedSample(t *testing.T) {
	code, recs, _ := runFP(t, "analyze")
	if code != 0 || len(recs) != 3 {
		t.Fatalf("exit %d, %d records", code, len(recs))
	}
	kinds := map[string]int{}
	for _, r := range recs {
		kinds[r["kind"].(string)]++
	}
	if kinds["tls"] != 1 || kinds["http"] != 2 {
		t.Fatalf("kinds %v", kinds)
	}
	// The sample's HTTP/2 stream is Chromium's: the Akamai string of
	// Chrome 117+ (docs/fingerprints.md example) is printed on its line.
	for _, r := range recs {
		if r["http_version"] == "2" && r["akamai"] != "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p" {
			t.Fatalf("akamai = %v", r["akamai"])
		}
	}
}

func TestAnalyzeErrorsAndFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h1 := write("req.txt", "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n\r\n")
	bad := write("bad.bin", "\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03")
	good, _ := os.ReadFile("sample/chromium-156-linux.bin")
	goodPath := write("good.bin", string(good))

	code, recs, stderr := runFP(t, "analyze", bad, "--http1", h1, goodPath, filepath.Join(dir, "missing.bin"))
	if code != exitBadInput {
		t.Fatalf("exit %d, want %d", code, exitBadInput)
	}
	if len(recs) != 3 || recs[0]["path"] != "/a" || recs[1]["index"] != 2.0 || recs[2]["kind"] != "tls" {
		t.Fatalf("records: %v", recs)
	}
	// The malformed file is named with the offset where it ends too soon.
	if !strings.Contains(stderr, bad+": offset 11: tls") || !strings.Contains(stderr, "missing.bin") {
		t.Fatalf("stderr: %s", stderr)
	}
	if code, _, _ := runFP(t, "analyze", "--bogus"); code != exitUsage {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

// TestAnalyzeCapture reads a capture from standard input and from a file
// cut short: the cut one prints what came before the damage and exits 2.
func TestAnalyzeCapture(t *testing.T) {
	hello, err := os.ReadFile("sample/chromium-156-linux.bin")
	if err != nil {
		t.Fatal(err)
	}
	w := pcapsynth.New(layers.LinkTypeEthernet, "")
	for _, port := range []string{"50000", "50001"} {
		c := w.Conn("10.1.1.1:"+port, "10.2.2.2:443")
		w.Handshake(c)
		w.TCP(c, true, "A", c.CliSeq, hello[:100])
		w.TCP(c, true, "A", c.CliSeq+100, hello[100:])
	}
	capture, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"fp", "analyze", "-"}, func(string) string { return "" },
		bytes.NewReader(capture), &out, &errOut)
	if code != exitOK || strings.Count(out.String(), `"kind":"tls"`) != 2 || !strings.Contains(out.String(), `"stream":1`) {
		t.Fatalf("stdin: exit %d, out %s, err %s", code, out.String(), errOut.String())
	}

	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, capture[:len(capture)-500], 0o644); err != nil {
		t.Fatal(err)
	}
	code, recs, stderr := runFP(t, "analyze", cut)
	if code != exitSkipped || len(recs) != 1 || !strings.Contains(stderr, "cut.pcap: ") || !strings.Contains(stderr, "offset") {
		t.Fatalf("cut capture: exit %d, %d records, stderr %s", code, len(recs), stderr)
	}
}
