package storage

import (
	"strings"

	"github.com/fpwork/fp/fingerprint"
)

// redactedHeaders are the headers whose values identify a person or carry
// a secret (lowercase names). Cookie is handled apart: its names are kept.
func redactedHeaders() []string {
	return []string{
		"authorization", "proxy-authorization",
		// Addresses of the client, set by it or by proxies on its way.
		"x-forwarded-for", "forwarded", "x-real-ip", "x-client-ip", "true-client-ip",
		"cf-connecting-ip", "x-cluster-client-ip", "fastly-client-ip", "x-forwarded",
	}
}

// Redact returns the headers as stored: names, order and value lengths
// kept; the values of the headers that identify a person or carry a
// secret removed (Authorization, Proxy-Authorization, the client-address
// headers); Cookie keeps its cookie names, in order, without their values
// (so the operator's fleet cookie is redacted like any other). Compute
// what needs the values (JA4H) before.
func Redact(hs []fingerprint.Header) []StoredHeader {
	out := make([]StoredHeader, len(hs))
	secret := redactedHeaders()
	for i, h := range hs {
		out[i] = StoredHeader{Name: h.Name, Value: h.Value, Length: len(h.Value)}
		name := strings.ToLower(h.Name)
		switch {
		case name == "cookie":
			out[i].Value, out[i].Redacted = cookieNames(h.Value), true
		case contains(secret, name):
			out[i].Value, out[i].Redacted = "", true
		}
	}
	return out
}

// cookieNames keeps the names of a Cookie value: "a=1; b=2" gives
// "a=; b=".
func cookieNames(v string) string {
	var b strings.Builder
	for i, part := range strings.Split(v, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name)
		b.WriteByte('=')
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
