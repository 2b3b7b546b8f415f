package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit allows each client address perSecond requests (with burst)
// and answers 429 with Retry-After past that. It keeps at most maxClients
// limiters, dropping idle ones.
func RateLimit(perSecond float64, burst, maxClients int, now func() time.Time) func(http.Handler) http.Handler {
	type client struct {
		lim  *rate.Limiter
		seen time.Time
	}
	var (
		mu      sync.Mutex
		clients = map[string]*client{}
	)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				ip = r.RemoteAddr
			}
			t := now()
			mu.Lock()
			c := clients[ip]
			if c == nil {
				if len(clients) >= maxClients {
					for k, v := range clients {
						if t.Sub(v.seen) > time.Minute {
							delete(clients, k)
						}
					}
				}
				c = &client{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
				if len(clients) < maxClients {
					clients[ip] = c
				}
			}
			c.seen = t
			res := c.lim.ReserveN(t, 1)
			delay := res.DelayFrom(t)
			if delay > 0 {
				res.CancelAt(t)
			}
			mu.Unlock()
			if delay > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
				http.Error(w, "too many requests", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
