package web

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebsocketMessageLimits: a message over MaxMessage closes the
// connection with 1009 (message too big); past the burst, a client
// sending faster than MessageRate is not answered until the budget allows
// (here never, within the test).
func TestWebsocketMessageLimits(t *testing.T) {
	srv := httptest.NewServer(&WebsocketEcho{MaxMessage: 16, IdleTimeout: 10 * time.Second, MessageRate: 0.001, MessageBurst: 2})
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := 0; i < 2; i++ {
		if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
			t.Fatalf("message %d: %q %v", i, msg, err)
		}
	}
	c.Write(ctx, websocket.MessageText, []byte("third"))
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, msg, err := c.Read(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third message answered past the burst: %q %v", msg, err)
	}

	big, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer big.CloseNow()
	big.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 17)))
	if _, _, err := big.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %v", err)
	}
}
