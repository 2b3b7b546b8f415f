package storage

import "github.com/fpwork/fp/profiles"

// ParseUserAgent returns the User-Agent header raw as stored: the string
// and what profiles.ParseUserAgent reads in it.
func ParseUserAgent(raw string) UserAgent {
	p := profiles.ParseUserAgent(raw)
	return UserAgent{Raw: raw, Browser: p.Browser, BrowserVersion: p.BrowserVersion, OS: p.OS, Device: p.Device}
}
