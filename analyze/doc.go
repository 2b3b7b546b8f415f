// Package analyze turns capture inputs into fingerprint records: raw TLS
// hello files and raw HTTP/1 and HTTP/2 client streams today, capture
// files later. It reads bytes it is given and feeds the fingerprint
// package; it opens no sockets.
package analyze
