package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// EchoRouter routes the echo service: /ip, /healthz, /readyz, websockets
// on /ws (and any path with an Upgrade: websocket), and the echo for
// every other method and path.
func EchoRouter(echo *Echo, ws *WebsocketEcho) http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	r.Get("/ip", ClientIP)
	r.HandleFunc("/ws", ws.ServeHTTP)
	r.Get("/api/clean", echo.APIClean)
	r.Get("/api/raw", APIRaw)
	r.Get("/api/all", echo.APIAll)
	r.Get("/api/tls", echo.APITLS)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || IsExtendedConnectWebsocket(r) {
			ws.ServeHTTP(w, r)
			return
		}
		echo.ServeHTTP(w, r)
	})
	r.MethodNotAllowed(echo.ServeHTTP)
	return r
}

// ClientIP answers with the client's IP address as text, JSON or HTML,
// by the Accept header.
func ClientIP(w http.ResponseWriter, r *http.Request) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, "application/json"):
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"ip": ip})
	case strings.Contains(accept, "text/html"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		fmt.Fprintf(w, "<!doctype html><title>Your IP</title><p>%s</p>\n", html.EscapeString(ip))
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, ip)
	}
}
