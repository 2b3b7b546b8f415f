package storage

import "testing"

func TestIsFleet(t *testing.T) {
	for _, tc := range []struct {
		name          string
		value, secret string
		want          bool
	}{
		{"match", "s3cret", "s3cret", true},
		{"other value", "s3cre", "s3cret", false},
		{"no secret configured", "", "", false},
		{"no cookie", "", "s3cret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsFleet(tc.value, tc.secret); got != tc.want {
				t.Fatalf("IsFleet(%q, %q) = %v", tc.value, tc.secret, got)
			}
		})
	}
}
