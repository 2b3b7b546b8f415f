// Package profiles holds what the platform knows of clients: User-Agent
// parsing, emulation profiles and their formats.
package profiles

import "strings"

// Unknown is the value of a UserAgent field the string does not tell.
const Unknown = "unknown"

// The device classes.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceBot     = "bot"
)

// UserAgent is what a User-Agent string says of its client. It is what the
// client claims, not what it is: fingerprints tell the rest.
type UserAgent struct {
	// Browser is the family: Chrome, Chromium, Edge, Opera, Samsung
	// Internet, Firefox, Safari; for programs their name (curl, wget,
	// Go-http-client, Googlebot, ...); Unknown.
	Browser        string
	BrowserVersion string // as the string gives it ("149.0.0.0", "18.6"); "" when it gives none
	OS             string // Windows, macOS, Linux, Android, iOS, ChromeOS, Unknown
	Device         string // desktop, mobile, tablet, bot, Unknown
}

// browserRule recognises a browser or a program by a product token
// ("Name/version") of the User-Agent. Rules are tried in order; the first
// whose product is present wins, so the tokens other browsers copy
// (Chrome, Safari) come after the ones that tell them apart.
type browserRule struct {
	product string // the product name, exact
	family  string // Browser; "" for the product name itself
	// version names the product whose version is the browser's ("" for
	// product itself).
	version string
	bot     bool // a program or crawler, not a browser people use
	// iOSApp: a browser app on iOS. Every iOS browser runs WebKit over the
	// system network stack, so its TLS and HTTP/2 fingerprints are
	// Safari's: it parses as Safari, versioned by its WebKit (the Version
	// token, else the iOS version).
	iOSApp bool
}

func browserRules() []browserRule {
	return []browserRule{
		{product: "CriOS", iOSApp: true},
		{product: "FxiOS", iOSApp: true},
		{product: "EdgiOS", iOSApp: true},
		{product: "OPiOS", iOSApp: true},
		{product: "Googlebot", bot: true},
		{product: "bingbot", bot: true},
		// Headless Chrome or Chromium: Chrome's stack, run by a program.
		{product: "HeadlessChrome", family: "Chrome", bot: true},
		{product: "Edg", family: "Edge"},
		{product: "EdgA", family: "Edge"},
		{product: "Edge", family: "Edge"}, // EdgeHTML
		{product: "OPR", family: "Opera"},
		{product: "Opera", family: "Opera"},
		{product: "SamsungBrowser", family: "Samsung Internet"},
		{product: "Chromium", family: "Chromium"},
		{product: "Firefox", family: "Firefox"},
		{product: "Chrome", family: "Chrome"},
		{product: "Safari", family: "Safari", version: "Version"},
		{product: "curl", bot: true},
		{product: "Wget", family: "wget", bot: true},
		{product: "wget2", family: "wget", bot: true},
		{product: "Go-http-client", bot: true},
		{product: "python-requests", bot: true},
		{product: "Python-urllib", bot: true},
		{product: "okhttp", bot: true},
		{product: "nghttp2", bot: true},
		{product: "node-fetch", bot: true},
		{product: "undici", bot: true},
	}
}

// botSuffixes mark a crawler's product name (YandexBot, AhrefsBot,
// Baiduspider, ...), matched without regard to case.
func botSuffixes() []string { return []string{"bot", "spider", "crawler"} }

// osRule recognises the operating system by a word of the User-Agent's
// comments ("(Windows NT 10.0; Win64; x64)"). Tried in order: iOS and
// Android before the Mac OS X and Linux they mention.
type osRule struct {
	word   string // contained in a comment part
	os     string
	device string // DeviceMobile for Android: a tablet lacks the Mobile token
}

func osRules() []osRule {
	return []osRule{
		{"iPhone", "iOS", DeviceMobile},
		{"iPod", "iOS", DeviceMobile},
		{"iPad", "iOS", DeviceTablet},
		{"Android", "Android", DeviceMobile},
		{"CrOS", "ChromeOS", DeviceDesktop},
		{"Windows", "Windows", DeviceDesktop},
		{"Mac OS X", "macOS", DeviceDesktop},
		{"Macintosh", "macOS", DeviceDesktop},
		{"Linux", "Linux", DeviceDesktop},
	}
}

// product is one "Name/version" token (or a bare "Name").
type product struct{ name, version string }

// ParseUserAgent reads a User-Agent string with the rules above. A field
// it cannot tell is Unknown.
func ParseUserAgent(s string) UserAgent {
	products, comments := splitUserAgent(s)
	find := func(name string) (product, bool) {
		for _, p := range products {
			if p.name == name {
				return p, true
			}
		}
		return product{}, false
	}
	ua := UserAgent{Browser: Unknown, OS: Unknown, Device: Unknown}

	var iOSVersion string
	for _, r := range osRules() {
		if findComment(comments, r.word) {
			ua.OS, ua.Device = r.os, r.device
			if r.os == "Android" {
				if _, mobile := find("Mobile"); !mobile && !strings.Contains(strings.Join(comments, ";"), "Mobile") {
					ua.Device = DeviceTablet
				}
			}
			if r.os == "iOS" {
				iOSVersion = iOSVersionOf(comments)
			}
			break
		}
	}

	bot := false
	for _, r := range browserRules() {
		p, ok := find(r.product)
		if !ok {
			continue
		}
		ua.Browser, ua.BrowserVersion, bot = r.family, p.version, r.bot
		if ua.Browser == "" {
			ua.Browser = r.product
		}
		if r.version != "" {
			v, _ := find(r.version)
			ua.BrowserVersion = v.version
		}
		if r.iOSApp {
			ua.Browser, ua.BrowserVersion = "Safari", iOSVersion
			if v, ok := find("Version"); ok {
				ua.BrowserVersion = v.version
			}
		}
		break
	}
	if ua.Browser == Unknown {
		for _, p := range products {
			if hasBotSuffix(p.name) {
				ua.Browser, ua.BrowserVersion, bot = p.name, p.version, true
				break
			}
		}
	}
	if bot {
		ua.Device = DeviceBot
	}
	return ua
}

// splitUserAgent splits s into its product tokens and the parts of its
// comments (split on ';', trimmed). A "Name/version" part of a comment,
// as crawlers write theirs ("(compatible; Googlebot/2.1; +http://...)"),
// is a product too.
func splitUserAgent(s string) (products []product, comments []string) {
	addProduct := func(tok string) {
		name, version, _ := strings.Cut(tok, "/")
		if name != "" && !strings.ContainsAny(name, " :+") {
			products = append(products, product{name: name, version: version})
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			for _, part := range strings.Split(s[i+1:min(j, len(s))], ";") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				comments = append(comments, part)
				if strings.Contains(part, "/") {
					addProduct(part)
				}
			}
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' {
				j++
			}
			addProduct(s[i:j])
			i = j
		}
	}
	return products, comments
}

func findComment(comments []string, word string) bool {
	for _, c := range comments {
		if strings.Contains(c, word) {
			return true
		}
	}
	return false
}

// iOSVersionOf reads the comment part "CPU iPhone OS 18_6 like Mac OS X"
// (iPad: "CPU OS 17_0 like Mac OS X") as "18.6".
func iOSVersionOf(comments []string) string {
	for _, c := range comments {
		if !strings.HasPrefix(c, "CPU ") {
			continue
		}
		if _, rest, ok := strings.Cut(c, "OS "); ok {
			v, _, _ := strings.Cut(rest, " ")
			return strings.ReplaceAll(v, "_", ".")
		}
	}
	return ""
}

func hasBotSuffix(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range botSuffixes() {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}
