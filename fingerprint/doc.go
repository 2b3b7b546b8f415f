// Package fingerprint holds the pure wire parsers (TLS ClientHello, HTTP/1
// request heads, the client side of an HTTP/2 connection) and the
// fingerprint algorithms computed from them: JA3, JA3N, JA4 and its
// variants, JA4H, the Akamai HTTP/2 fingerprint and PeetPrint.
//
// Everything here is a function of bytes: no sockets, no logging, no
// storage. Parsers are lenient observers. What a TLS or HTTP stack would
// reject (duplicate extensions, trailing bytes, odd line endings) is recorded
// as an Anomaly next to the decoded value; only input that cannot be read at
// all, or that is cut short, is an error. Every decoded view keeps the wire
// order and the raw bytes it came from.
//
// The exact rules of every fingerprint are those of the project's
// fingerprint specification (docs/fingerprints.md); comments of the form
// "spec: JA4 alpn" name the rule a line implements.
package fingerprint
