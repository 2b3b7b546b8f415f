package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	srv := httptest.NewServer(CORS(EchoRouter(NewEcho(EchoLimits{MaxBody: 1 << 10}, nil), &WebsocketEcho{MaxMessage: 1 << 10})))
	defer srv.Close()
	for _, tc := range []struct {
		name       string
		method     string
		headers    map[string]string
		status     int
		allowOrig  string
		allowHdrs  string
		allowMeths string
	}{
		{"preflight", "OPTIONS", map[string]string{"Origin": "https://page.example", "Access-Control-Request-Method": "PUT",
			"Access-Control-Request-Headers": "x-marker, content-type"}, 204, "*", "x-marker, content-type", "PUT"},
		{"plain OPTIONS is echoed", "OPTIONS", nil, 200, "*", "", ""},
		{"cross-origin GET", "GET", map[string]string{"Origin": "https://page.example"}, 200, "*", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/anything", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != tc.allowOrig ||
				resp.Header.Get("Access-Control-Allow-Headers") != tc.allowHdrs || resp.Header.Get("Access-Control-Allow-Methods") != tc.allowMeths {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
		})
	}
}
