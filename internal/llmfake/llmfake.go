// Package llmfake runs local servers that speak the Anthropic Messages
// and OpenAI Chat Completions wire formats (plain and streamed), so that
// tests drive the real SDK clients. A test scripts each call's answer;
// the servers count calls, the calls in flight at once, the connections
// closed mid-answer, and the token usage they reported — with prompt
// caching modelled on the providers' rules — so ledgers can be checked
// against them exactly.
package llmfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Call is one request as the server understood it.
type Call struct {
	N      int // 1-based, in arrival order
	Body   []byte
	Model  string
	Stream bool
	// Text is every text of the request in order (system, then messages);
	// Instruction is the last user text.
	Text        string
	Instruction string
	// DocumentType is the type the request asks to write (from the
	// instruction), "" if not found.
	DocumentType string
	// Tools are the offered tools (Anthropic); Strict tells whether the
	// response_format was strict (OpenAI).
	Tools  []string
	Strict bool
	// Header is the request's headers.
	Header http.Header
}

// Reply is what the server answers to one call.
type Reply struct {
	// Status, when not 0 or 200, answers with that error status (and
	// RetryAfter as the Retry-After header when set).
	Status     int
	RetryAfter string
	// Document answers with a document; Questions with a clarification
	// set (both JSON); Text with free text.
	Document  json.RawMessage
	Questions json.RawMessage
	Text      string
	// Delay is how long to wait before answering; a streamed answer
	// spreads it over its chunks.
	Delay time.Duration
	// Hang sends the start of the answer, then waits for the client to
	// close the connection.
	Hang bool
	// OutputTokens overrides the reported output tokens (0: estimated).
	OutputTokens int64
}

// Handler decides the reply to a call.
type Handler func(c *Call) Reply

// Usage is what the server reported, summed over its completed calls.
type Usage struct {
	Calls            int64
	InputTokens      int64 // every prompt token, cached or not
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
}

// Server is a fake provider.
type Server struct {
	URL string
	// MinCacheTokens is the shortest prefix the provider caches (1024).
	MinCacheTokens int64

	t       testing.TB
	handler Handler
	srv     *httptest.Server

	mu       sync.Mutex
	calls    []*Call
	inFlight int
	maxIn    int
	closed   int
	usage    Usage
	// cache holds the hashes of cached prefixes (Anthropic) or the
	// prompts seen (OpenAI).
	cache   map[string]bool
	prompts []string
}

func newServer(t testing.TB, h Handler, serve func(s *Server, w http.ResponseWriter, r *http.Request, c *Call)) *Server {
	s := &Server{t: t, handler: h, MinCacheTokens: 1024, cache: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		c := &Call{N: len(s.calls) + 1, Body: body, Header: r.Header.Clone()}
		s.calls = append(s.calls, c)
		s.inFlight++
		s.maxIn = max(s.maxIn, s.inFlight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()
		serve(s, w, r, c)
	}))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server (tests that outlive it).
func (s *Server) Close() { s.srv.Close() }

// Calls returns the calls received so far.
func (s *Server) Calls() []*Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Call(nil), s.calls...)
}

// MaxInFlight is the most calls the server had in flight at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// ClosedEarly counts answers the client abandoned (connection closed).
func (s *Server) ClosedEarly() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Reported is the usage the server reported over its completed calls.
func (s *Server) Reported() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

func (s *Server) report(u Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage.Calls++
	s.usage.InputTokens += u.InputTokens
	s.usage.OutputTokens += u.OutputTokens
	s.usage.CacheReadTokens += u.CacheReadTokens
	s.usage.CacheWriteTokens += u.CacheWriteTokens
}

func (s *Server) abandoned() {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
}

// Tokens is the fake tokenizer: four bytes a token, rounded up.
func Tokens(text string) int64 { return (int64(len(text)) + 3) / 4 }

var docTypeRe = regexp.MustCompile(`document type "([a-z0-9_]+)"`)

func documentType(instruction string) string {
	if m := docTypeRe.FindStringSubmatch(instruction); m != nil {
		return m[1]
	}
	return ""
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// wait sleeps d unless the client goes away first (reported as false).
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// chunks splits s into n pieces (for streamed answers).
func chunks(s string, n int) []string {
	if n < 1 {
		n = 1
	}
	size := (len(s) + n - 1) / n
	if size == 0 {
		return []string{s}
	}
	var out []string
	for len(s) > 0 {
		k := min(size, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

func writeSSE(w http.ResponseWriter, event string, v any) {
	b, _ := json.Marshal(v)
	if event != "" {
		io.WriteString(w, "event: "+event+"\n")
	}
	io.WriteString(w, "data: "+string(b)+"\n\n")
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func joinTexts(parts []string) string { return strings.Join(parts, "\n") }
