package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/coder/websocket"
)

// bidiSession is a WebDriver BiDi session on a browser's loopback remote-debugging
// port (Firefox: --remote-debugging-port), just enough of the protocol to load a page
// and read the text of one element. Commands run one at a time.
type bidiSession struct {
	ws     *websocket.Conn
	nextID int
}

// dialBiDi connects to the browser's BiDi endpoint (ws://127.0.0.1:PORT) and starts a
// session that accepts the echo's self-signed certificate.
func dialBiDi(ctx context.Context, endpoint string) (*bidiSession, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme != "ws" || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("bidi: %s is not a ws:// loopback address", endpoint)
	}
	u.Path = "/session"
	ws, _, err := websocket.Dial(ctx, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bidi: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	s := &bidiSession{ws: ws}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{"acceptInsecureCerts": true}}}
	if _, err := s.call(ctx, "session.new", caps); err != nil {
		ws.Close(websocket.StatusInternalError, "")
		return nil, err
	}
	return s, nil
}

// call sends one command and waits for its result, skipping events.
func (s *bidiSession) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	s.nextID++
	id := s.nextID
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := s.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("bidi %s: %w", method, err)
	}
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("bidi %s: %w", method, err)
		}
		var reply struct {
			ID      *int            `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(data, &reply); err != nil {
			return nil, fmt.Errorf("bidi %s: %w", method, err)
		}
		if reply.ID == nil || *reply.ID != id {
			continue // an event, or another command's reply
		}
		if reply.Type == "error" {
			return nil, fmt.Errorf("bidi %s: %s: %s", method, reply.Error, reply.Message)
		}
		return reply.Result, nil
	}
}

// pageText loads pageURL in the browser's first top-level context, waits for the
// load to complete, and returns the textContent of the first element matching
// selector.
func (s *bidiSession) pageText(ctx context.Context, pageURL, selector string) (string, error) {
	tree, err := s.call(ctx, "browsingContext.getTree", map[string]any{})
	if err != nil {
		return "", err
	}
	var contexts struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(tree, &contexts); err != nil || len(contexts.Contexts) == 0 {
		return "", fmt.Errorf("bidi: no browsing context: %s", tree)
	}
	browsing := contexts.Contexts[0].Context
	if _, err := s.call(ctx, "browsingContext.navigate",
		map[string]any{"context": browsing, "url": pageURL, "wait": "complete"}); err != nil {
		return "", err
	}
	selectorJSON, err := json.Marshal(selector)
	if err != nil {
		return "", err
	}
	res, err := s.call(ctx, "script.evaluate", map[string]any{
		"expression":   "document.querySelector(" + string(selectorJSON) + ")?.textContent ?? null",
		"target":       map[string]any{"context": browsing},
		"awaitPromise": false,
	})
	if err != nil {
		return "", err
	}
	var eval struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &eval); err != nil {
		return "", fmt.Errorf("bidi: script.evaluate: %w", err)
	}
	if eval.Type != "success" || eval.Result.Type != "string" {
		return "", fmt.Errorf("bidi: the page has no %s: %s", selector, res)
	}
	return eval.Result.Value, nil
}

// close ends the session (the browser stays up; the caller stops it).
func (s *bidiSession) close(ctx context.Context) error {
	_, err := s.call(ctx, "session.end", map[string]any{})
	cerr := s.ws.Close(websocket.StatusNormalClosure, "")
	return errors.Join(err, cerr)
}

// browserAnswer loads pageURL in the browser at the BiDi endpoint and saves the text of
// the echo page's <pre> (its JSON answer) as name.json.
func browserAnswer(ctx context.Context, endpoint, pageURL, name string, save func(answer, []byte) error) error {
	s, err := dialBiDi(ctx, endpoint)
	if err != nil {
		return err
	}
	text, err := s.pageText(ctx, pageURL, "pre")
	if cerr := s.close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return save(answer{name}, []byte(text))
}
