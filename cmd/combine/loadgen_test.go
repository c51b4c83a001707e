package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// loadTarget is one endpoint under load: GET path at addr with headers.
type loadTarget struct {
	name    string
	addr    string // host:port
	path    string
	headers map[string]string
}

// request is the target's request, serialized once.
func (t loadTarget) request() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: combine-loadgen\r\nAccept: */*\r\n", t.path, t.addr)
	for k, v := range t.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// loadResult accumulates the completed requests and their latencies.
type loadResult struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r *loadResult) add(o loadResult) {
	r.requests += o.requests
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

// rate is the completed requests per second.
func (r *loadResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// percentile returns the latency under which a fraction p of the requests
// completed (sorting the samples once).
func (r *loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	if !slices.IsSorted(r.latencies) {
		slices.Sort(r.latencies)
	}
	return r.latencies[min(int(p*float64(len(r.latencies))), len(r.latencies)-1)]
}

// runLoad keeps conns keep-alive HTTP/1.1 connections busy with the
// target's request for d (a closed loop, like wrk: each connection sends
// its next request when the answer to the previous one has arrived) and
// returns what completed. The client is deliberately lean — one
// pre-serialized request, a minimal response parser — so that on a small
// machine the load generator takes as little CPU from the server as it
// can. Any answer other than 200 is an error.
func runLoad(t loadTarget, conns int, d time.Duration) (loadResult, error) {
	req := t.request()
	var (
		mu       sync.Mutex
		total    loadResult
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			res, err := loadConn(t.addr, req, deadline)
			mu.Lock()
			defer mu.Unlock()
			total.requests += res.requests
			total.latencies = append(total.latencies, res.latencies...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total, firstErr
}

// loadConn sends req over one connection until deadline.
func loadConn(addr string, req []byte, deadline time.Time) (loadResult, error) {
	var res loadResult
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return res, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline.Add(5 * time.Second))
	br := bufio.NewReaderSize(c, 16<<10)
	res.latencies = make([]time.Duration, 0, 4096)
	for {
		t0 := time.Now()
		if !t0.Before(deadline) {
			return res, nil
		}
		if _, err := c.Write(req); err != nil {
			return res, err
		}
		status, err := readResponse(br)
		if err != nil {
			return res, err
		}
		if status != http.StatusOK {
			return res, fmt.Errorf("%s answered %d", addr, status)
		}
		res.latencies = append(res.latencies, time.Since(t0))
		res.requests++
	}
}

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// returns its status.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length (not supported by the load generator)")
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

// bareJSONHandler is the ceiling: the least a net/http JSON endpoint does.
func bareJSONHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "alive"})
	})
	return mux
}
