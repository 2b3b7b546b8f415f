package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// Websocket subprotocols of the echo.
const (
	ProtocolEcho  = "echo"       // messages back unchanged
	ProtocolUpper = "echo-upper" // text messages upper-cased; binary unchanged
	ProtocolLower = "echo-lower" // text messages lower-cased; binary unchanged
)

// WebsocketEcho echoes websocket messages, over an HTTP/1.1 upgrade or an
// HTTP/2 extended CONNECT (RFC 8441). No subprotocol offered behaves
// as "echo"; subprotocols offered of which none is known are refused with
// 400.
type WebsocketEcho struct {
	MaxMessage  int64         // bytes per message
	IdleTimeout time.Duration // per message read
	// MessageRate and MessageBurst bound the messages echoed per second
	// on one connection (0: no bound). A client sending faster is slowed
	// down, not dropped: its next message is read when the budget allows.
	MessageRate  float64
	MessageBurst int
}

// ServeHTTP implements http.Handler.
func (e *WebsocketEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	offered := offeredProtocols(r)
	if len(offered) > 0 && !knownProtocol(offered) {
		http.Error(w, "none of the offered subprotocols is known: use echo, echo-upper or echo-lower", http.StatusBadRequest)
		return
	}
	opts := &websocket.AcceptOptions{Subprotocols: []string{ProtocolEcho, ProtocolUpper, ProtocolLower}}
	var c *websocket.Conn
	var err error
	if IsExtendedConnectWebsocket(r) {
		c, err = acceptExtendedConnect(w, r, opts)
	} else {
		c, err = websocket.Accept(w, r, opts)
	}
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(e.MaxMessage)
	transform := func(b []byte) []byte { return b }
	switch c.Subprotocol() {
	case ProtocolUpper:
		transform = bytes.ToUpper
	case ProtocolLower:
		transform = bytes.ToLower
	}
	limit := rate.NewLimiter(rate.Inf, 0)
	if e.MessageRate > 0 {
		limit = rate.NewLimiter(rate.Limit(e.MessageRate), max(e.MessageBurst, 1))
	}
	for {
		if err := limit.Wait(r.Context()); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), e.IdleTimeout)
		typ, msg, err := c.Read(ctx)
		cancel()
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || errors.Is(err, context.Canceled) {
				c.Close(websocket.StatusNormalClosure, "")
			}
			return
		}
		if typ == websocket.MessageText {
			msg = transform(msg)
		}
		ctx, cancel = context.WithTimeout(r.Context(), e.IdleTimeout)
		err = c.Write(ctx, typ, msg)
		cancel()
		if err != nil {
			return
		}
	}
}

func offeredProtocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func knownProtocol(offered []string) bool {
	for _, p := range offered {
		if p == ProtocolEcho || p == ProtocolUpper || p == ProtocolLower {
			return true
		}
	}
	return false
}
