package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/storage"
	"github.com/fpwork/fp/web"
)

// TestPageFleetAndReadiness: a visit whose request carries the fleet
// cookie with FP_STORAGE_SECRET's value is stored as the fleet's, one with
// another value as the public's, and neither value is stored; /readyz
// answers 200 with the database's state.
func TestPageFleetAndReadiness(t *testing.T) {
	const secret = "fleet-SECRET-3c1d"
	mem := storage.NewMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := storage.NewWriter(mem, storage.WriterOptions{MaxDelay: time.Millisecond, PingEvery: -1}, log)
	p := &page{writer: w, visit: testChromium(t), random: seeded(t.Name()), now: time.Now, html: pageHTML(), log: log,
		fleetSecret: secret, ready: web.Readiness(web.ReadinessCheck{Name: "database", State: w.State})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ConnContext: p.connContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(capture.NewPlainListener(ln))
	defer srv.Close()
	_, path := requestLine(storage.KindNavigate)
	visits := map[storage.VisitID]bool{
		storage.VisitID(strings.Repeat("f1", 16)): true,
		storage.VisitID(strings.Repeat("0b", 16)): false,
	}
	for visit, fleet := range visits {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		value := "not-the-secret"
		if fleet {
			value = secret
		}
		req.Header.Set("Cookie", visitCookie+"="+string(visit)+"; "+storage.FleetCookie+"="+value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "database: ") {
		t.Fatalf("/readyz: %d %q", resp.StatusCode, body)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for visit, fleet := range visits {
		rec, err := mem.Visit(t.Context(), visit)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Visit.Fleet != fleet {
			t.Errorf("visit %s: fleet %v, want %v", visit, rec.Visit.Fleet, fleet)
		}
		for _, o := range rec.Observations {
			for _, h := range o.Headers {
				if strings.Contains(h.Value, secret) || strings.Contains(h.Value, "not-the-secret") {
					t.Errorf("%s stored with the fleet cookie's value", h.Name)
				}
			}
		}
	}
}
