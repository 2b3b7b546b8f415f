package storage

import "github.com/fpwork/fp/fingerprint"

// DeriveRequest returns the derived values stored for a live request,
// from the request as sent (before Redact): JA4H from it as it is; JA4H_r
// and JA4H_ro, which print every cookie's value, from its headers as
// Redact stores them, so that they keep the cookie names and no value
// (the operator's fleet cookie included). DeriveObservation rebuilds those
// two from the stored headers; JA4H's cookie hash needs the values.
func DeriveRequest(r *fingerprint.HTTPRequest) ObservationFingerprints {
	sent := fingerprint.JA4HAll(r)
	stored := *r
	stored.Headers = make([]fingerprint.Header, len(r.Headers))
	for i, h := range Redact(r.Headers) {
		stored.Headers[i] = fingerprint.Header{Name: h.Name, Value: h.Value}
	}
	raw := fingerprint.JA4HAll(&stored)
	return ObservationFingerprints{
		Version: fingerprint.AlgorithmVersion,
		JA4H:    sent[fingerprint.JA4HHashed],
		JA4HR:   raw[fingerprint.JA4HRaw],
		JA4HRO:  raw[fingerprint.JA4HRawOriginal],
	}
}
