package web

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fpwork/fp/storage"
)

// FuzzSiteRequest sends arbitrary requests (method, path and query,
// cookies, body) to the site's routes, with and without the cookies of a
// visit: none may panic or fail with a 5xx (bad input is the client's
// error, a 4xx).
func FuzzSiteRequest(f *testing.F) {
	store := storage.NewMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	writer := storage.NewWriter(store, storage.WriterOptions{}, log)
	f.Cleanup(func() { writer.Close(context.Background()) })
	site, err := NewSite(SiteConfig{Store: store, Writer: writer, Log: log, Random: rand.Reader})
	if err != nil {
		f.Fatal(err)
	}
	h := site.Handler()
	// One visit of the fuzzer's browser, navigated once.
	nav := httptest.NewRequest("GET", "/report?consent=yes", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, nav)
	owned := rec.Result().Cookies()
	visit := ""
	for _, c := range owned {
		if c.Name == visitsCookie {
			visit = c.Value
		}
	}
	if visit == "" {
		f.Fatal("no visit cookie")
	}
	methods := []string{"GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS"}
	f.Add(uint8(1), "/api/fetch?visit="+visit, `{"userAgent":"x"}`, true, "")
	f.Add(uint8(1), "/api/xhr?visit="+visit, `[1,2]`, true, "")
	f.Add(uint8(1), "/form?visit="+visit, "auto=1&field=x", true, "")
	f.Add(uint8(0), "/form?visit="+visit+"&auto=1", "", true, "")
	f.Add(uint8(2), "/api/visit/"+visit, "", false, visit+".zz")
	f.Add(uint8(1), "/visit/delete", "id="+visit, true, "")
	f.Add(uint8(1), "/consent", "choice=store&next=//evil", false, "")
	f.Add(uint8(0), "/api/search?kind=ja4&hash=t13d", "", false, "")
	f.Add(uint8(0), "/report?visit="+visit+"&auto=1", "", true, "")
	f.Add(uint8(0), "/api/ws?visit="+visit, "", true, "")
	f.Fuzz(func(t *testing.T, method uint8, target, body string, withCookie bool, cookie string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") || strings.HasPrefix(target, "/api/events") {
			return // not a request line net/http would pass on; the event stream waits for news
		}
		req, err := http.NewRequest(methods[int(method)%len(methods)], "https://fp.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		if strings.Contains(body, "=") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if withCookie {
			for _, c := range owned {
				req.AddCookie(c)
			}
		}
		if cookie != "" && !strings.ContainsAny(cookie, "\r\n") {
			req.Header.Add("Cookie", visitsCookie+"="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, target, rec.Code, rec.Body.String())
		}
	})
}
