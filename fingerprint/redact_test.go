package fingerprint

import (
	"bytes"
	"testing"

	goldenfile "github.com/fpwork/fp/internal/golden"
)

// TestRedactPSK: in every golden hello that offers a PSK, the identities
// and binders are zeroed and nothing else changes: the same length, the
// same fingerprints, the same number of identities; hellos without a PSK
// come back equal, as records and as a bare message.
func TestRedactPSK(t *testing.T) {
	psk := 0
	for _, f := range goldenfile.Glob(t, "testdata/golden") {
		in := f.MustHex(t, "hello.hex")
		ch, err := ParseClientHello(in)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		for _, input := range [][]byte{in, append([]byte(nil), ch.Raw...)} {
			out, err := RedactPSK(input)
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			got, err := ParseClientHello(out)
			if err != nil {
				t.Fatalf("%s: redacted hello does not parse: %v", f.Name, err)
			}
			want, _ := ParseClientHello(input)
			if len(out) != len(input) || ComputeTLS(got, TransportTCP) != ComputeTLS(want, TransportTCP) ||
				got.PSKIdentities != want.PSKIdentities {
				t.Fatalf("%s: redaction changed the hello", f.Name)
			}
			var pskData []byte
			for _, x := range want.Extensions {
				if x.Type == ExtPreSharedKey {
					pskData = x.Data
				}
			}
			if pskData == nil {
				if !bytes.Equal(out, input) {
					t.Fatalf("%s: a hello without PSK changed", f.Name)
				}
				continue
			}
			psk++
			// The identities and binders were there (non-zero) and are gone.
			var redacted []byte
			for _, x := range got.Extensions {
				if x.Type == ExtPreSharedKey {
					redacted = x.Data
				}
			}
			if bytes.Count(pskData[2:], []byte{0}) == len(pskData)-2 {
				t.Fatalf("%s: the golden PSK is all zeros already", f.Name)
			}
			if bytes.Equal(redacted, pskData) || nonZeroOutsideLengths(t, redacted) {
				t.Fatalf("%s: PSK not zeroed: %x", f.Name, redacted)
			}
			if diff := countDiff(out, input); diff == 0 || diff > len(pskData) {
				t.Fatalf("%s: %d bytes changed, the PSK extension has %d", f.Name, diff, len(pskData))
			}
		}
	}
	if psk == 0 {
		t.Fatal("no golden hello offers a PSK")
	}
}

// nonZeroOutsideLengths reports whether a pre_shared_key body with one
// identity and one binder holds a non-zero byte outside its length fields
// (identities vector: 2-byte length, then 2-byte id length, id, 4-byte
// age; binders vector: 2-byte length, then 1-byte binder length, binder).
func nonZeroOutsideLengths(t *testing.T, body []byte) bool {
	idsLen := int(body[0])<<8 | int(body[1])
	idLen := int(body[2])<<8 | int(body[3])
	if idLen+6 != idsLen {
		t.Fatalf("want one identity: identities %d bytes, the first %d", idsLen, idLen)
	}
	for i, b := range body {
		isLen := i < 4 || i == 2+idsLen || i == 3+idsLen || i == 4+idsLen
		if b != 0 && !isLen {
			return true
		}
	}
	return false
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func FuzzRedactPSK(f *testing.F) {
	for _, g := range goldenfile.Glob(f, "testdata/golden") {
		f.Add(g.MustHex(f, "hello.hex"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := RedactPSK(b)
		if err != nil {
			return
		}
		want, _ := ParseClientHello(b)
		got, err := ParseClientHello(out)
		if err != nil || len(out) != len(b) || ComputeTLS(got, TransportTCP) != ComputeTLS(want, TransportTCP) {
			t.Fatalf("redaction changed the hello: %v", err)
		}
	})
}
