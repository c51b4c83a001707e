package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/server"
)

// serving starts f's server on a loopback port and returns its base URL,
// the function that begins the shutdown (as SIGTERM does in serve) and the
// channel that receives Serve's result.
func serving(t *testing.T, f *fixture) (string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, done
}

func slowModule(started chan<- struct{}, srv func() *server.Server) routes {
	return routes{
		{Pattern: "GET /api/v1/slow", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			started <- struct{}{}
			time.Sleep(800 * time.Millisecond)
			server.WriteJSON(w, http.StatusOK, map[string]string{"done": "yes"})
			return nil
		}},
		{Pattern: "GET /api/v1/stream", Access: server.Public(), Stream: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: hello\n\n")
			http.NewResponseController(w).Flush()
			select {
			case <-srv().ShuttingDown():
				fmt.Fprint(w, "event: shutdown\ndata: bye\n\n")
			case <-r.Context().Done():
			}
			return nil
		}},
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	var f *fixture
	f = newFixture(t, func(c *config.Config) {
		c.ShutdownDelay = time.Second
		c.ShutdownTimeout = 5 * time.Second
	}, slowModule(started, func() *server.Server { return f.srv }))
	base, beginShutdown, done := serving(t, f)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	// A long-lived stream and a slow request are in flight.
	stream, err := client.Get(base + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	events := bufio.NewReader(stream.Body)
	if line, _ := events.ReadString('\n'); line != "data: hello\n" {
		t.Fatalf("first stream line %q", line)
	}
	slow := make(chan *http.Response, 1)
	go func() {
		resp, err := client.Get(base + "/api/v1/slow")
		if err != nil {
			t.Errorf("slow request failed during the drain: %v", err)
		}
		slow <- resp
	}()
	<-started

	shutdownStart := time.Now()
	beginShutdown()
	for !f.checker.Draining() {
		time.Sleep(time.Millisecond)
	}

	// Readiness turns 503 first, while the listener still accepts.
	resp, err := client.Get(base + "/health/ready")
	if err != nil {
		t.Fatalf("readiness during the drain delay: %v", err)
	}
	if body := readBody(t, resp); resp.StatusCode != 503 || !strings.Contains(body, `"not_ready"`) {
		t.Errorf("readiness while draining: %d %s", resp.StatusCode, body)
	}
	if live := mustGet(t, client, base+"/health/live"); live != 200 {
		t.Errorf("liveness while draining: %d", live)
	}

	// The stream ends once the shutdown starts, after the delay.
	rest, _ := io.ReadAll(events)
	if !strings.Contains(string(rest), "event: shutdown") {
		t.Errorf("stream did not end on ShuttingDown: %q", rest)
	}
	if time.Since(shutdownStart) < 900*time.Millisecond {
		t.Errorf("stream ended before the drain delay")
	}

	// The slow request completes.
	if r := <-slow; r == nil || r.StatusCode != 200 || !strings.Contains(readBody(t, r), `"yes"`) {
		t.Errorf("slow request did not complete: %v", r)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := client.Get(base + "/health/live"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

func TestShutdownTimeoutBoundsTheDrain(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	var f *fixture
	f = newFixture(t, func(c *config.Config) {
		c.ShutdownTimeout = 100 * time.Millisecond
	}, slowModule(started, func() *server.Server { return f.srv }))
	base, beginShutdown, done := serving(t, f)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + "/api/v1/slow")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	begin := time.Now()
	beginShutdown()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after a drain timeout", err)
	}
	if d := time.Since(begin); d > 700*time.Millisecond {
		t.Errorf("drain took %s with a 100ms timeout", d)
	}
	if err := <-errc; err == nil {
		t.Error("the slow request outlived the drain timeout")
	}
}

func mustGet(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
