package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// Sentinel errors of Eval.
var (
	// ErrNoPage means Chromium listed no page target to evaluate in.
	ErrNoPage = errors.New("chromium has no page open")
	// ErrScript means the evaluated expression threw or its promise was
	// rejected.
	ErrScript = errors.New("javascript exception")
	// ErrDevTools means the DevTools protocol answered with an error or with
	// something Eval could not read.
	ErrDevTools = errors.New("devtools protocol error")
)

// maxTargetList bounds the body of the DevTools /json answer Eval reads.
const maxTargetList = 1 << 20

// listTimeout bounds the request for the DevTools /json list.
const listTimeout = 10 * time.Second

// target is one entry of the DevTools HTTP endpoint's /json list.
type target struct {
	Type                 string `json:"type"`
	URL                  string `json:"url"`
	WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
}

// evalRequest is the DevTools protocol command Eval sends.
type evalRequest struct {
	ID     int        `json:"id"`
	Method string     `json:"method"`
	Params evalParams `json:"params"`
}

type evalParams struct {
	Expression    string `json:"expression"`
	ReturnByValue bool   `json:"returnByValue"`
	AwaitPromise  bool   `json:"awaitPromise"`
}

// evalResponse is the answer to an evalRequest; messages without an ID are
// events and are skipped.
type evalResponse struct {
	ID    int `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result *struct {
		Result struct {
			Type        string          `json:"type"`
			Value       json.RawMessage `json:"value"`
			Description string          `json:"description"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	} `json:"result"`
}

// Eval evaluates the JavaScript expression expr in Chromium's first page,
// waits for it to settle if it is a promise, and returns its value as JSON
// (null for undefined). Values that JSON cannot hold, such as DOM nodes or
// functions, come back as {} or null: return plain data. It fails with
// ErrScript when the expression throws, ErrNoPage when no page is open yet,
// ErrExited when Chromium has ended, and ErrDevTools when the protocol
// fails. Each call opens and closes its own DevTools connection to the
// page, so calls may run concurrently; ctx bounds the whole call.
func (b *Browser) Eval(ctx context.Context, expr string) (json.RawMessage, error) {
	wsURL, err := b.pageWebSocket(ctx)
	if err != nil {
		return nil, err
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to page: %w", ErrDevTools, err)
	}
	defer conn.Close()
	// Reads block without a context; closing the connection ends them.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(deadline)
	}

	const id = 1
	req := evalRequest{ID: id, Method: "Runtime.evaluate",
		Params: evalParams{Expression: expr, ReturnByValue: true, AwaitPromise: true}}
	if err := conn.WriteJSON(req); err != nil {
		return nil, b.connError(ctx, "send Runtime.evaluate", err)
	}
	for {
		var res evalResponse
		if err := conn.ReadJSON(&res); err != nil {
			return nil, b.connError(ctx, "read Runtime.evaluate answer", err)
		}
		if res.ID != id {
			continue
		}
		return evalResult(res)
	}
}

// Until evaluates expr every 50 ms until it is true, for at most within; it
// returns nil then, or an error naming the last value or evaluation error.
func (b *Browser) Until(ctx context.Context, expr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		raw, err := b.Eval(ectx, expr)
		cancel()
		if err == nil && string(raw) == "true" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not true within %s: last %s, %v", within, raw, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// evalResult turns the answer to Runtime.evaluate into Eval's result.
func evalResult(res evalResponse) (json.RawMessage, error) {
	switch {
	case res.Error != nil:
		return nil, fmt.Errorf("%w: Runtime.evaluate: %s (code %d)", ErrDevTools, res.Error.Message, res.Error.Code)
	case res.Result == nil:
		return nil, fmt.Errorf("%w: Runtime.evaluate answered without a result", ErrDevTools)
	case res.Result.ExceptionDetails != nil:
		d := res.Result.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg = d.Exception.Description
		}
		return nil, fmt.Errorf("%w: %s", ErrScript, msg)
	case res.Result.Result.Type == "undefined" || len(res.Result.Result.Value) == 0:
		return json.RawMessage("null"), nil
	default:
		return res.Result.Result.Value, nil
	}
}

// connError explains a failed exchange with the page: the context's end,
// Chromium's exit, or a protocol failure.
func (b *Browser) connError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	select {
	case <-b.done:
		return b.exitError()
	default:
	}
	return fmt.Errorf("%w: %s: %w", ErrDevTools, what, err)
}

// pageWebSocket returns the DevTools WebSocket URL of Chromium's first page
// target, as listed by the DevTools HTTP endpoint's /json.
func (b *Browser) pageWebSocket(ctx context.Context) (string, error) {
	browserURL, err := b.DevToolsURL(ctx)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(browserURL)
	if err != nil {
		return "", fmt.Errorf("%w: devtools URL %q: %w", ErrDevTools, browserURL, err)
	}
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(lctx, http.MethodGet, "http://"+u.Host+"/json", nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDevTools, err)
	}
	// No idle connection is kept: nothing is left running between calls.
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", b.connError(ctx, "list targets", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxTargetList))
	if err != nil {
		return "", b.connError(ctx, "list targets", err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: list targets: HTTP %d: %s", ErrDevTools, res.StatusCode, body)
	}
	var targets []target
	if err := json.Unmarshal(body, &targets); err != nil {
		return "", fmt.Errorf("%w: list targets: %w", ErrDevTools, err)
	}
	for _, t := range targets {
		if t.Type == "page" && t.WebSocketDebuggerURL != "" {
			return t.WebSocketDebuggerURL, nil
		}
	}
	return "", ErrNoPage
}
