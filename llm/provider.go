package llm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Providers.
const (
	ProviderAnthropic = "anthropic"
	ProviderOpenAI    = "openai"
)

// provider makes one call through a provider's official SDK.
type provider interface {
	name() string
	call(ctx context.Context, c *callSpec) (*callResult, error)
}

// callSpec is one call to make.
type callSpec struct {
	req       *Request
	model     string
	price     Price
	maxTokens int64
	stream    bool
	// progress receives the input tokens (once known) and the output
	// tokens so far while a streamed answer arrives.
	progress func(input, output int64)
	// sent records the SHA-256 of the body actually sent (set by the
	// request middleware; the same bytes for the same request).
	sent *sentRequest
}

// callResult is a completed call.
type callResult struct {
	usage Usage
	// model is the model that answered, as the provider reports it.
	model  string
	answer *answer
}

// sentRequest holds the hash of the request body the SDK sent.
type sentRequest struct {
	mu   sync.Mutex
	hash string
	body []byte
}

func (s *sentRequest) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hash, s.body = hashBytes(body), body
}

func (s *sentRequest) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hash
}

// captureBody returns SDK middleware that records the request body, so
// that the ledger holds the hash of exactly what was sent.
func captureBody(sent *sentRequest) func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return func(r *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		if r.Body != nil && sent != nil {
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				return nil, err
			}
			sent.set(b)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		return next(r)
	}
}

// callError is a failed call, classified for the retry decision.
type callError struct {
	// status is the HTTP status (0 for a transport error or timeout).
	status int
	// retryable: 408, 409, 429, 5xx, timeouts and broken connections.
	retryable bool
	// retryAfter is the provider's Retry-After, when it sent one.
	retryAfter time.Duration
	err        error
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// classify wraps a provider error: status is the HTTP status when the SDK
// got a response, resp that response (for Retry-After).
func classify(err error, status int, resp *http.Response) *callError {
	ce := &callError{status: status, err: err}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests, status >= 500:
		ce.retryable = true
	case status == 0:
		// No HTTP status: a timeout, a refused or broken connection, a
		// stream cut short. The caller's own cancellation is not retried.
		ce.retryable = !errors.Is(err, context.Canceled)
	}
	if resp != nil {
		ce.retryAfter = retryAfter(resp.Header, time.Now())
	}
	return ce
}

// retryAfter reads the delay a provider asks for: retry-after-ms (OpenAI
// and Anthropic send it), else Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// estimateTokens is a deliberately high estimate of the tokens of text
// (about 3 bytes per token), for budget reservations before a call.
func estimateTokens(n int) int64 { return int64(n)/3 + 1 }
