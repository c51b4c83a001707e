package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// client calls the HTTP API as one user.
type client struct {
	t     testing.TB
	base  func() string
	token string
	http  *http.Client
}

func newClient(t testing.TB, base func() string, token string) *client {
	return &client{t: t, base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// call sends a request and returns the status and body; a transport error
// (e.g. the server was just killed) is returned, not fatal.
func (c *client) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a request that has to answer want, decoding the body into out.
func (c *client) must(method, path string, body any, want int, out any) {
	c.t.Helper()
	status, b, err := c.call(context.Background(), method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// apiError is the contract's error body.
type apiError struct {
	Error struct {
		Code               string `json:"code"`
		Message            string `json:"message"`
		RequiredPermission string `json:"required_permission"`
	} `json:"error"`
}

func decodeError(t testing.TB, b []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a JSON error body: %s", b)
	}
	return e
}

func fmtJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return fmt.Sprint(string(b))
}
