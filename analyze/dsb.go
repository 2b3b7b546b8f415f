package analyze

import (
	"bytes"
	"encoding/binary"
	"io"
)

// pcapng block types and the secrets type of a TLS key log (pcapng spec,
// Decryption Secrets Block).
const (
	blockSectionHeader    = 0x0a0d0d0a
	blockDecryptionSecret = 0x0000000a
	secretsTLSKeyLog      = 0x544c534b // "TLSK"
	maxSecretsBlock       = 16 << 20
)

// secretsWatcher passes a pcapng stream through unchanged and, on the
// side, follows its block structure to read the Decryption Secrets Blocks
// (which the pcapng reader consumes without exposing them). A TLS key log
// found there is added to keys before the packets after it are read.
type secretsWatcher struct {
	r    io.Reader
	keys *KeyLog

	order   binary.ByteOrder
	header  []byte // the block header being read (12 bytes)
	skip    int    // bytes of the current block still to pass
	dsb     []byte // the body of a secrets block being read
	inDSB   bool
	broken  bool // the structure stopped making sense: watch no more
	errKeys error
}

func newSecretsWatcher(r io.Reader, keys *KeyLog) *secretsWatcher {
	return &secretsWatcher{r: r, keys: keys, order: binary.LittleEndian}
}

func (w *secretsWatcher) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if !w.broken {
		w.watch(p[:n])
	}
	return n, err
}

func (w *secretsWatcher) watch(b []byte) {
	for len(b) > 0 && !w.broken {
		if w.skip > 0 {
			n := min(w.skip, len(b))
			if w.inDSB {
				w.dsb = append(w.dsb, b[:n]...)
			}
			w.skip -= n
			b = b[n:]
			if w.skip == 0 && w.inDSB {
				w.secrets(w.dsb)
				w.inDSB, w.dsb = false, nil
			}
			continue
		}
		need := 8
		if len(w.header) >= 4 && binary.LittleEndian.Uint32(w.header) == blockSectionHeader {
			need = 12 // the byte-order magic decides how to read the length
		}
		n := min(need-len(w.header), len(b))
		w.header = append(w.header, b[:n]...)
		b = b[n:]
		if len(w.header) < need {
			continue
		}
		if need == 8 && binary.LittleEndian.Uint32(w.header) == blockSectionHeader {
			continue // read the magic too
		}
		if need == 12 {
			switch binary.LittleEndian.Uint32(w.header[8:]) {
			case 0x1a2b3c4d:
				w.order = binary.LittleEndian
			case 0x4d3c2b1a:
				w.order = binary.BigEndian
			default:
				w.broken = true
				return
			}
		}
		typ, total := w.order.Uint32(w.header), int(w.order.Uint32(w.header[4:]))
		if total < 12 || total%4 != 0 {
			w.broken = true
			return
		}
		w.skip = total - len(w.header)
		if typ == blockDecryptionSecret && total <= maxSecretsBlock {
			w.inDSB, w.dsb = true, make([]byte, 0, total)
		}
		w.header = w.header[:0]
	}
}

// secrets reads a Decryption Secrets Block body (and trailing length).
func (w *secretsWatcher) secrets(body []byte) {
	if len(body) < 8 || w.order.Uint32(body) != secretsTLSKeyLog {
		return
	}
	n := int(w.order.Uint32(body[4:]))
	if n > len(body)-8 {
		return
	}
	if err := w.keys.add(bytes.NewReader(body[8 : 8+n])); err != nil && w.errKeys == nil {
		w.errKeys = err
	}
}
