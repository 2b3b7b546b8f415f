package storage

import (
	"strings"
	"testing"

	"github.com/fpwork/fp/fingerprint"
)

func TestRedact(t *testing.T) {
	secrets := []string{"s3cr3t-session", "fleet-secret-value", "Basic dXNlcjpwYXNz", "Bearer tok", "203.0.113.7", "198.51.100.9"}
	in := []fingerprint.Header{
		{Name: "Host", Value: "fp.example"},
		{Name: "Cookie", Value: "session=s3cr3t-session; fp_fleet=fleet-secret-value"},
		{Name: "authorization", Value: "Basic dXNlcjpwYXNz"},
		{Name: "Proxy-Authorization", Value: "Bearer tok"},
		{Name: "X-Forwarded-For", Value: "203.0.113.7"},
		{Name: "Forwarded", Value: "for=198.51.100.9"},
		{Name: "X-Real-IP", Value: "203.0.113.7"},
		{Name: "User-Agent", Value: "Mozilla/5.0"},
	}
	out := Redact(in)
	if len(out) != len(in) {
		t.Fatalf("%d headers stored of %d", len(out), len(in))
	}
	for i, h := range out {
		if h.Name != in[i].Name || h.Length != len(in[i].Value) {
			t.Errorf("header %d: %+v for %+v", i, h, in[i])
		}
		for _, s := range secrets {
			if strings.Contains(h.Value, s) {
				t.Errorf("header %s keeps %q", h.Name, s)
			}
		}
	}
	if out[1].Value != "session=; fp_fleet=" || !out[1].Redacted {
		t.Errorf("cookie %+v", out[1])
	}
	for _, i := range []int{0, 7} {
		if out[i].Value != in[i].Value || out[i].Redacted {
			t.Errorf("%s changed: %+v", in[i].Name, out[i])
		}
	}
}
