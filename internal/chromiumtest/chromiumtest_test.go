package chromiumtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStartOpensPage: the browser loads a page from an HTTPS test server
// with a self-signed certificate (--ignore-certificate-errors), runs its
// script, and writes the connection's TLS secrets to the key log.
func TestStartOpensPage(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>chromiumtest %s</title><p id=p>%s</p>", r.Proto, r.UserAgent())
	}))
	defer srv.Close()
	keyLog := t.TempDir() + "/keylog.txt"
	ctx := Start(t, WithKeyLog(keyLog))

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("p")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "chromiumtest HTTP/") {
		t.Errorf("title %q", title)
	}
	if !strings.Contains(ua, "HeadlessChrome/") || text != ua {
		t.Errorf("the page saw User-Agent %q, the script %q", text, ua)
	}
	secrets, err := os.ReadFile(keyLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(secrets), "CLIENT_TRAFFIC_SECRET_0 ") && !strings.Contains(string(secrets), "CLIENT_RANDOM ") {
		t.Errorf("the key log holds no TLS secret:\n%s", secrets)
	}
}

// TestFlags: the browser's flags are the agreed ones, the key log only when
// asked for.
func TestFlags(t *testing.T) {
	got := strings.Join(Flags("/tmp/p", ""), " ")
	want := "headless no-sandbox disable-gpu no-first-run disable-background-networking disable-component-update disable-sync user-data-dir=/tmp/p ignore-certificate-errors"
	if got != want {
		t.Errorf("Flags:\n got %s\nwant %s", got, want)
	}
	if got := Flags("/tmp/p", "/tmp/k"); got[len(got)-1] != "ssl-key-log-file=/tmp/k" {
		t.Errorf("Flags with a key log: %q", got)
	}
}
