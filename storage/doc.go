// Package storage keeps what the services observe: TLS connections, browser
// visits and one observation per request context, with their raw evidence
// (the ClientHello records, the HTTP/2 preface, the header list in order)
// so that fingerprints can be searched, recomputed when an algorithm
// changes, and turned into emulation profiles.
//
// Store has two implementations with the same behaviour, tested by one
// contract suite: PostgreSQL through pgx (NewPostgres, when DATABASE_URL is
// set) and memory (NewMemory, when it is not; nothing is persisted).
// Writer puts writes on a bounded queue and writes them in batches, so a
// slow or stopped database never slows a page.
//
// Privacy by design: there is no IP address anywhere in the model; header
// values that identify a person or carry secrets are redacted (Redact)
// before an observation is built, keeping names, positions and lengths;
// PSK identities and binders are zeroed in stored hellos
// (fingerprint.RedactPSK). History is kept: rows are never updated, and
// recomputed fingerprints are new rows stamped with their algorithm
// version.
package storage
