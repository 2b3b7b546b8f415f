package profiles

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fpwork/fp/internal/golden"
)

// The User-Agents of the golden captures, each a case of
// TestParseUserAgent (TestParseUserAgentCoversTheGoldens keeps it so).
const (
	uaHeadlessChromium = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
	uaFirefoxESRLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
)

func TestParseUserAgent(t *testing.T) {
	cases := []struct {
		name string
		ua   string
		want UserAgent
	}{
		// The goldens'.
		{"GoldenHeadlessChromium", uaHeadlessChromium, UserAgent{"Chrome", "156.0.0.0", "Linux", DeviceBot}},
		{"GoldenFirefoxESR", uaFirefoxESRLinux, UserAgent{"Firefox", "153.0", "Linux", DeviceDesktop}},
		{"GoldenCurl", "curl/7.88.1", UserAgent{"curl", "7.88.1", Unknown, DeviceBot}},
		{"GoldenGoHTTP1", "Go-http-client/1.1", UserAgent{"Go-http-client", "1.1", Unknown, DeviceBot}},
		{"GoldenGoHTTP2", "Go-http-client/2.0", UserAgent{"Go-http-client", "2.0", Unknown, DeviceBot}},
		{"GoldenNghttp", "nghttp2/1.52.0", UserAgent{"nghttp2", "1.52.0", Unknown, DeviceBot}},
		{"GoldenWget2", "wget2/1.99.1", UserAgent{"wget", "1.99.1", Unknown, DeviceBot}},
		{"GoldenUTLSTool", "goldencap-utls", UserAgent{Unknown, "", Unknown, Unknown}},
		{"GoldenRawTLS", "raw-over-tls", UserAgent{Unknown, "", Unknown, Unknown}},
		// Browsers.
		{"ChromeWindows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "151.0.0.0", "Windows", DeviceDesktop}},
		{"ChromeAndroidPhone", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Mobile Safari/537.36",
			UserAgent{"Chrome", "149.0.0.0", "Android", DeviceMobile}},
		{"ChromeAndroidTablet", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "126.0.0.0", "Android", DeviceTablet}},
		{"ChromeOS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			UserAgent{"Chrome", "126.0.0.0", "ChromeOS", DeviceDesktop}},
		{"ChromiumUbuntu", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/83.0.4103.61 Chrome/83.0.4103.61 Safari/537.36",
			UserAgent{"Chromium", "83.0.4103.61", "Linux", DeviceDesktop}},
		{"EdgeWindows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36 Edg/151.0.0.0",
			UserAgent{"Edge", "151.0.0.0", "Windows", DeviceDesktop}},
		{"EdgeAndroid", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.0.0",
			UserAgent{"Edge", "126.0.0.0", "Android", DeviceMobile}},
		{"EdgeLegacy", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582",
			UserAgent{"Edge", "18.19582", "Windows", DeviceDesktop}},
		{"Opera", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/112.0.0.0",
			UserAgent{"Opera", "112.0.0.0", "Windows", DeviceDesktop}},
		{"SamsungInternet", "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
			UserAgent{"Samsung Internet", "25.0", "Android", DeviceMobile}},
		{"FirefoxMac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:153.0) Gecko/20100101 Firefox/153.0",
			UserAgent{"Firefox", "153.0", "macOS", DeviceDesktop}},
		{"FirefoxAndroid", "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
			UserAgent{"Firefox", "127.0", "Android", DeviceMobile}},
		{"SafariMac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.4 Safari/605.1.15",
			UserAgent{"Safari", "26.4", "macOS", DeviceDesktop}},
		{"SafariIPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "18.6", "iOS", DeviceMobile}},
		{"SafariIPad", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "17.5", "iOS", DeviceTablet}},
		// iOS apps are WebKit: Safari, versioned by WebKit.
		{"ChromeIOSIsSafari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "17.5", "iOS", DeviceMobile}},
		{"FirefoxIOSIsSafari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
			UserAgent{"Safari", "17.5.1", "iOS", DeviceMobile}},
		{"EdgeIPadIsSafari", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) EdgiOS/126.2592.56 Version/17.0 Mobile/15E148 Safari/604.1",
			UserAgent{"Safari", "17.0", "iOS", DeviceTablet}},
		// Programs and crawlers.
		{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			UserAgent{"Googlebot", "2.1", Unknown, DeviceBot}},
		{"GooglebotSmartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			UserAgent{"Googlebot", "2.1", "Android", DeviceBot}},
		{"Bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
			UserAgent{"bingbot", "2.0", Unknown, DeviceBot}},
		{"AnyBotBySuffix", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
			UserAgent{"YandexBot", "3.0", Unknown, DeviceBot}},
		{"PythonUrllib", "Python-urllib/3.11", UserAgent{"Python-urllib", "3.11", Unknown, DeviceBot}},
		{"OkHttp", "okhttp/4.12.0", UserAgent{"okhttp", "4.12.0", Unknown, DeviceBot}},
		// Nothing to go by.
		{"Empty", "", UserAgent{Unknown, "", Unknown, Unknown}},
		{"UnclosedComment", "Mozilla/5.0 (Windows NT 10.0; Win64", UserAgent{Unknown, "", "Windows", DeviceDesktop}},
		{"OnlyParens", "((()))", UserAgent{Unknown, "", Unknown, Unknown}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseUserAgent(tc.ua); got != tc.want {
				t.Errorf("ParseUserAgent(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

// TestParseUserAgentCoversTheGoldens: every User-Agent a golden capture
// sent is a case above, so a golden with a new client adds a case.
func TestParseUserAgentCoversTheGoldens(t *testing.T) {
	src, err := os.ReadFile("useragent_test.go")
	if err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`(?mi)^\s*user-agent: (.+)$`)
	for _, g := range golden.Glob(t, "../fingerprint/testdata/golden") {
		for _, m := range header.FindAllStringSubmatch(g.Comment, -1) {
			ua := strings.TrimSpace(m[1])
			quoted, _ := json.Marshal(ua) // Go and JSON quote these strings alike
			if !strings.Contains(string(src), string(quoted)) && !slices.Contains([]string{uaHeadlessChromium, uaFirefoxESRLinux}, ua) {
				t.Errorf("%s: User-Agent %q has no case in TestParseUserAgent", g.Name, ua)
			}
		}
	}
}

// ramaRow is what the test reads of a row of the rama profiles: the
// User-Agent, and what the browser said of itself elsewhere (the
// BrowserStack session's browser, client hints, navigator.platform).
type ramaRow struct {
	UA         string `json:"uastr"`
	SourceInfo struct {
		Browser string `json:"browser_name"`
		Device  string `json:"device_name"`
	} `json:"source_info"`
	Navigate [][2]string `json:"h2_headers_navigate"`
	JS       struct {
		Navigator struct {
			Platform string `json:"platform"`
		} `json:"navigator"`
	} `json:"js_web_apis"`
}

// TestParseUserAgentRamaProfiles parses the User-Agent of every profile
// captured from a real device and checks it against what the same
// browser said otherwise: the family BrowserStack ran, the platform and
// mobile client hints (Chromium) or navigator.platform, the major version
// of the sec-ch-ua brand, Firefox's rv: token.
func TestParseUserAgentRamaProfiles(t *testing.T) {
	raw, err := os.ReadFile("../storage/testdata/rama-ua-profiles.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []ramaRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 52 {
		t.Fatalf("%d profiles, want 52", len(rows))
	}
	families := map[string]string{"chrome": "Chrome", "edge": "Edge", "firefox": "Firefox", "safari": "Safari"}
	platforms := map[string]string{`"Windows"`: "Windows", `"macOS"`: "macOS", `"Linux"`: "Linux", `"Android"`: "Android",
		`"Chrome OS"`: "ChromeOS", "Win32": "Windows", "MacIntel": "macOS", "iPhone": "iOS", "iPad": "iOS"}
	brands := map[string]string{"Chrome": `"Google Chrome";v="`, "Edge": `"Microsoft Edge";v="`}
	rv := regexp.MustCompile(`rv:([0-9.]+)\)`)
	for _, row := range rows {
		t.Run(row.UA, func(t *testing.T) {
			hints := map[string]string{}
			for _, h := range row.Navigate {
				hints[h[0]] = h[1]
			}
			got := ParseUserAgent(row.UA)
			if want := families[strings.ToLower(row.SourceInfo.Browser)]; got.Browser != want {
				t.Errorf("browser %q, BrowserStack ran %q", got.Browser, row.SourceInfo.Browser)
			}
			platform, ok := hints["sec-ch-ua-platform"]
			if !ok {
				platform = row.JS.Navigator.Platform
			}
			if want := platforms[platform]; got.OS != want {
				t.Errorf("OS %q, the browser says platform %q", got.OS, platform)
			}
			wantDevice := DeviceDesktop
			switch {
			case hints["sec-ch-ua-mobile"] == "?1", platform == "iPhone":
				wantDevice = DeviceMobile
			case platform == "iPad":
				wantDevice = DeviceTablet
			}
			if got.Device != wantDevice {
				t.Errorf("device %q, want %q", got.Device, wantDevice)
			}
			major, _, _ := strings.Cut(got.BrowserVersion, ".")
			switch brand := brands[got.Browser]; {
			case brand != "":
				if !strings.Contains(hints["sec-ch-ua"], brand+major+`"`) {
					t.Errorf("version %q, client hints %s", got.BrowserVersion, hints["sec-ch-ua"])
				}
			case got.Browser == "Firefox":
				if m := rv.FindStringSubmatch(row.UA); m == nil || m[1] != got.BrowserVersion {
					t.Errorf("version %q, rv: %v", got.BrowserVersion, m)
				}
			case got.Browser == "Safari" && got.OS == "iOS":
				if !strings.Contains(row.UA, "OS "+major+"_") {
					t.Errorf("Safari %q on iOS of another major version", got.BrowserVersion)
				}
			default:
				if major == "" {
					t.Errorf("no version")
				}
			}
		})
	}
}

func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{uaHeadlessChromium, uaFirefoxESRLinux, "curl/7.88.1", "",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "((a/b; c)", "x/ (iPhone; CPU OS _ like"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ua := ParseUserAgent(s)
		if ua.Browser == "" || ua.OS == "" || ua.Device == "" {
			t.Errorf("ParseUserAgent(%q) = %+v: an empty field", s, ua)
		}
	})
}
