package storage

import "crypto/subtle"

// FleetCookie is the cookie that marks a visit from the operator's own
// device fleet: its value must equal the secret set by FP_STORAGE_SECRET.
// Like every cookie value it is redacted before storage.
const FleetCookie = "fp_fleet"

// IsFleet reports, in constant time, whether a FleetCookie value is the
// fleet secret. An empty secret marks no visit.
func IsFleet(value, secret string) bool {
	return secret != "" && subtle.ConstantTimeCompare([]byte(value), []byte(secret)) == 1
}
