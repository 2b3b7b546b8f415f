package storage

import "testing"

// TestParseUserAgentAgreesWithTheContract: the parsed forms the contract
// suite sets by hand are what the parser gives.
func TestParseUserAgentAgreesWithTheContract(t *testing.T) {
	for _, raw := range []string{uaChromeLinux, uaChromeWin, uaEdgeWin, uaFirefoxWin, uaSafariIOS, uaCurl} {
		t.Run(raw, func(t *testing.T) {
			if got, want := ParseUserAgent(raw), agentOf(t, raw); got != want {
				t.Errorf("ParseUserAgent\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
