package web

import "net/http"

// CORS lets browser pages on any origin call the echo: its answers carry
// no credentials and no state, so every origin may read them. A preflight
// (OPTIONS with Origin and Access-Control-Request-Method) is answered 204
// allowing the method and headers asked for; any other request goes to
// next, whose JSON answers carry Access-Control-Allow-Origin themselves.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Header.Get("Access-Control-Request-Method")
		if r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || method == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", method)
		if headers := r.Header.Values("Access-Control-Request-Headers"); len(headers) > 0 {
			for _, v := range headers {
				h.Add("Access-Control-Allow-Headers", v)
			}
		}
		h.Set("Access-Control-Max-Age", "600")
		h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
		w.WriteHeader(http.StatusNoContent)
	})
}
