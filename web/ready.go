package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/fpwork/fp/storage"
)

// ReadinessCheck names a dependency and tells its state.
type ReadinessCheck struct {
	Name  string
	State func() storage.StoreState
}

// Readiness answers /readyz: 200 as long as the service can serve its
// pages, which it can whatever its database does (observations wait in
// the writer's queue, or are dropped and counted), so a stopped database
// never takes the service out of a load balancer. The body tells each
// dependency's state, one line each: "database: up", or "database: down
// since ... (checked ...): error".
func Readiness(checks ...ReadinessCheck) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ready")
		for _, c := range checks {
			s := c.State()
			switch {
			case s.Checked.IsZero():
				fmt.Fprintf(w, "%s: not checked yet\n", c.Name)
			case s.Reachable:
				fmt.Fprintf(w, "%s: up (checked %s)\n", c.Name, s.Checked.UTC().Format(time.RFC3339))
			default:
				fmt.Fprintf(w, "%s: down (checked %s): %s\n", c.Name, s.Checked.UTC().Format(time.RFC3339), s.Err)
			}
		}
	}
}
