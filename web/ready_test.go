package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fpwork/fp/storage"
)

func TestReadinessStaysReadyAndTellsTheDatabaseState(t *testing.T) {
	checked := time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		state storage.StoreState
		want  string
	}{
		{"up", storage.StoreState{Reachable: true, Checked: checked}, "database: up (checked 2026-11-25T04:00:00Z)"},
		{"down", storage.StoreState{Checked: checked, Err: "dial tcp 127.0.0.1:5432: connect: connection refused"},
			"database: down (checked 2026-11-25T04:00:00Z): dial tcp 127.0.0.1:5432: connect: connection refused"},
		{"not yet", storage.StoreState{}, "database: not checked yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Readiness(ReadinessCheck{Name: "database", State: func() storage.StoreState { return tc.state }}))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "ready\n") || !strings.Contains(string(body), tc.want+"\n") {
				t.Fatalf("%d %q, want 200 with %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}
