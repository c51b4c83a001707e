package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/server"
)

func TestTimeoutsAndStreams(t *testing.T) {
	t.Parallel()
	mod := routes{
		{Pattern: "GET /api/v1/ticks", Access: server.Public(), Stream: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 8 {
				select {
				case <-r.Context().Done():
					return nil // cancelled: the client sees the stream cut short
				case <-time.After(100 * time.Millisecond):
				}
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
			}
			return nil
		}},
		{Pattern: "GET /api/v1/sluggish", Access: server.Public(), Handler: func(w http.ResponseWriter, r *http.Request) error {
			time.Sleep(700 * time.Millisecond)
			server.WriteJSON(w, http.StatusOK, map[string]string{"late": "yes"})
			return nil
		}},
	}
	f := newFixture(t, nil, mod)
	f.srv.Timeouts.Read = 300 * time.Millisecond
	f.srv.Timeouts.Write = 300 * time.Millisecond
	base, _, _ := serving(t, f)

	// A stream lives past both timeouts and delivers every event.
	resp, err := http.Get(base + "/api/v1/ticks")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
		}
	}
	resp.Body.Close()
	if n != 8 {
		t.Errorf("stream delivered %d of 8 events across the read/write timeouts", n)
	}

	// An ordinary handler slower than the write timeout does not reach the client.
	if resp, err := http.Get(base + "/api/v1/sluggish"); err == nil {
		body := readBody(t, resp)
		t.Errorf("response written after the write timeout arrived: %d %s", resp.StatusCode, body)
	}

	// Oversized headers are refused.
	req, _ := http.NewRequest("GET", base+"/health/live", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB header: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
