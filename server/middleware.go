package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

// reqInfo is filled while a request is served and read by the access log.
type reqInfo struct {
	auth *combine.AuthContext
	// route is the matched route pattern, the metrics label.
	route string
	// secretPath hides the raw path from the access log.
	secretPath bool
	// quiet logs a successful request at DEBUG.
	quiet bool
	// rt and creds are the matched route and the credentials presented,
	// for streams that re-authorize while open.
	rt    Route
	creds combine.Credentials
}

type reqInfoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return i
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush supports streaming through this wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack is passed through for completeness.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

// observe assigns the request id and client address, then writes one
// access-log line and the metrics for the request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		remote := remoteAddr(r)
		trusted := s.trusted(remote)
		id := ""
		if trusted {
			id = validRequestID(r.Header.Get("X-Request-ID"))
		}
		if id == "" {
			id = newRequestID()
		}
		client := remote.String()
		if trusted {
			client = forwardedClient(r.Header.Values("X-Forwarded-For"), remote, s.trusted)
		}
		w.Header()["X-Request-Id"] = []string{id}

		info := &reqInfo{}
		ctx := context.WithValue(r.Context(), reqInfoKey{}, info)
		ctx = combine.NewContextWithRequestID(ctx, id)
		ctx = combine.NewContextWithClientAddr(ctx, client)
		r = r.WithContext(ctx)

		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		func() {
			defer s.metrics.inFlight.Dec()
			next.ServeHTTP(sw, r)
		}()
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		// Label by the route table's pattern, never the raw path (ids would
		// make a series each); whatever no route matched is "unmatched".
		route := info.route
		if route == "" {
			route = "unmatched"
		}
		dur := time.Since(start)
		s.metrics.observe(metricMethod(r.Method), route, sw.status, dur)

		level := slog.LevelInfo
		switch {
		case sw.status >= 500:
			level = slog.LevelError
		case info.quiet:
			// Probes and scrapes arrive every few seconds: keep them out of
			// the INFO log unless they fail.
			level = slog.LevelDebug
		}
		if !s.logger.Enabled(ctx, level) {
			return
		}
		path := r.URL.Path
		if info.secretPath {
			path = route
		} else if p := s.secretPrefix(path); p != "" {
			// No route matched (e.g. a wrong method), but the path is one
			// that carries a secret: log only its fixed part.
			path = p + "…"
		}
		// Room for every attribute up front: growing the slice for the
		// caller's attributes was the request's largest allocation.
		attrs := append(make([]slog.Attr, 0, 11),
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", path),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
			slog.String("client", client),
		)
		if a := info.auth; a != nil {
			attrs = append(attrs, slog.String("user_id", a.UserID), slog.String("auth", a.Method))
			if a.SessionID != "" {
				attrs = append(attrs, slog.String("session_id", a.SessionID))
			}
			if a.TokenID != "" {
				attrs = append(attrs, slog.String("token_id", a.TokenID))
			}
		}
		s.logger.LogAttrs(ctx, level, "request", attrs...)
	})
}

// secretPrefix returns the fixed part of the SecretPath route that path
// falls under, or "".
func (s *Server) secretPrefix(path string) string {
	for _, p := range s.secretPrefixes {
		if strings.HasPrefix(path, p) {
			return p
		}
	}
	return ""
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(r.RemoteAddr)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks X-Forwarded-For from the right, skipping trusted
// proxies, and returns the first untrusted address: the real client.
func forwardedClient(values []string, remote netip.Addr, trusted func(netip.Addr) bool) string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		a = a.Unmap()
		if !trusted(a) {
			return a.String()
		}
	}
	return remote.String()
}

// parseHop reads one X-Forwarded-For hop: an address, or an address with
// a port as some proxies write it ("203.0.113.7:4711", "[2001:db8::1]:80").
func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a, true
	}
	return netip.Addr{}, false
}

// validRequestID accepts a proxy's request id only if it is short and plain.
func validRequestID(s string) string {
	if len(s) == 0 || len(s) > 128 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return ""
		}
	}
	return s
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newRequestID returns 16 random base32 characters (80 bits). A request
// id names a request in logs and error bodies and guards nothing, so it
// comes from the runtime's fast per-thread generator, not crypto/rand
// (a system call per request).
func newRequestID() string {
	var b [16]byte
	for i, r := 0, uint64(0); i < len(b); i++ {
		if i%12 == 0 {
			r = rand.Uint64()
		}
		b[i] = idAlphabet[r&31]
		r >>= 5
	}
	return string(b[:])
}

// recoverer turns a panic into a logged 500 JSON error.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic serving request",
				slog.String("request_id", combine.RequestIDFromContext(r.Context())),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			s.Error(w, r, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries. The values
// are built once and assigned under their canonical keys: Header.Set would
// canonicalize each key and allocate each value on every request. The
// slices have no spare capacity, so a later Add copies instead of writing
// into the shared array.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	type header struct {
		key   string
		value []string
	}
	headers := []header{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
		{"Content-Security-Policy", []string{"frame-ancestors 'none'"}},
	}
	if s.cfg.SessionSecureCookies {
		headers = append(headers, header{"Strict-Transport-Security", []string{"max-age=63072000; includeSubDomains"}})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, x := range headers {
			h[x.key] = x.value
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; reading past the cap fails and the error
// renders as 413. A declared oversize Content-Length is refused up front.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.Error(w, r, combine.Errorf(combine.ETOOLARGE, "request body exceeds %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		if r.Body != http.NoBody { // net/http's body of a request declared empty
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// metricMethod keeps client-chosen method names out of metric labels.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
