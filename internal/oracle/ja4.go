package oracle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// JA4 follows the client side of every TLS connection of conns in the
// capture file pcap with tshark (the bytes as captured) and returns
// read-tls-client-hello's JA4 of each connection's ClientHello, by
// tcp.stream. The oracle's failure on one hello is given as its JA4,
// "error: " and the message.
func JA4(pcap string, conns []*Conn) (map[string]string, error) {
	var tlsConns []*Conn
	for _, c := range conns {
		if c.TLS {
			tlsConns = append(tlsConns, c)
		}
	}
	if len(tlsConns) == 0 {
		return map[string]string{}, nil
	}
	sent, err := ClientBytes(pcap, tlsConns)
	if err != nil {
		return nil, err
	}
	hellos := make(map[string][]byte, len(sent))
	for _, c := range tlsConns {
		hellos[c.Stream] = sent[c.Stream]
	}
	return JA4OfHellos(hellos)
}

// JA4OfHellos returns read-tls-client-hello's JA4 of each raw ClientHello
// (its TLS records as sent; bytes after the hello are ignored), by the
// same keys. The oracle's failure on one hello is given as its JA4,
// "error: " and the message.
func JA4OfHellos(hellos map[string][]byte) (map[string]string, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	npm, err := npmDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fp-oracle-")
	if err != nil {
		return nil, fmt.Errorf("oracle: %w", err)
	}
	defer os.RemoveAll(dir)
	args := []string{filepath.Join(npm, "ja4.js")}
	fileKey := map[string]string{}
	i := 0
	for key, b := range hellos {
		i++
		f := filepath.Join(dir, fmt.Sprintf("hello-%d.bin", i))
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, fmt.Errorf("oracle: %w", err)
		}
		args = append(args, f)
		fileKey[f] = key
	}
	var stderr bytes.Buffer
	cmd := exec.Command("node", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("oracle: node ja4.js: %w: %s", err, stderr.Bytes())
	}
	ja4 := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			File, JA4, Error string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("oracle: ja4.js line %q: %w", line, err)
		}
		if r.Error != "" {
			r.JA4 = "error: " + r.Error
		}
		ja4[fileKey[r.File]] = r.JA4
	}
	for key := range hellos {
		if _, ok := ja4[key]; !ok {
			return nil, fmt.Errorf("oracle: ja4.js printed nothing for hello %s", key)
		}
	}
	return ja4, nil
}

// ClientBytes follows each connection of conns in the capture file pcap
// with tshark ("-z follow,tcp,raw") and returns the bytes the client sent,
// as captured, by tcp.stream.
func ClientBytes(pcap string, conns []*Conn) (map[string][]byte, error) {
	args := []string{"-r", pcap, "-q"}
	clientPort := map[string]string{}
	for _, c := range conns {
		if _, ok := clientPort[c.Stream]; !ok {
			clientPort[c.Stream] = c.ClientPort
			args = append(args, "-z", "follow,tcp,raw,"+c.Stream)
		}
	}
	if len(clientPort) == 0 {
		return map[string][]byte{}, nil
	}
	out, err := tshark(args...)
	if err != nil {
		return nil, err
	}
	return parseFollow(out, clientPort)
}

// parseFollow reads tshark's "-z follow,tcp,raw" blocks: per stream, two
// "Node" lines, then one hex line per segment, the second node's indented
// by a tab. clientPort gives each stream's client port.
func parseFollow(out []byte, clientPort map[string]string) (map[string][]byte, error) {
	got := map[string][]byte{}
	var stream string
	clientIndented := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "Filter: tcp.stream eq "):
			stream = strings.TrimPrefix(line, "Filter: tcp.stream eq ")
		case strings.HasPrefix(line, "Node 0: "):
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(line, "Node 0: "))
			clientIndented = port != clientPort[stream]
		case strings.HasPrefix(line, "====") || strings.HasPrefix(line, "Follow: ") || strings.HasPrefix(line, "Node 1: ") || line == "":
		default:
			if strings.HasPrefix(line, "\t") != clientIndented {
				continue
			}
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				return nil, fmt.Errorf("oracle: tshark follow line %q: %w", line, err)
			}
			got[stream] = append(got[stream], b...)
		}
	}
	return got, nil
}
