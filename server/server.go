// Package server is The Combine's HTTP layer: one route table with the
// access each route needs, thin handlers, the middleware every request
// passes through (request id, access log, recovery, limits, security
// headers, metrics, CSRF) and the graceful-shutdown sequence.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/config"
	"github.com/thecombine/combine/health"
)

// Hooks lets feature areas observe security decisions without the HTTP
// layer knowing about them (identity uses them for its audit log).
type Hooks struct {
	// Denied is called when an authenticated caller lacks a permission.
	Denied func(ctx context.Context, a *combine.AuthContext, required string, route string)
}

// Server is the HTTP server and its dependencies.
type Server struct {
	cfg     *config.Config
	logger  *slog.Logger
	health  *health.Checker
	metrics *metrics
	streams *streamLimits

	metricsHandler http.Handler

	// secretPrefixes are the fixed parts of SecretPath routes, so that the
	// access log hides their secrets even when no route matched.
	secretPrefixes []string

	// Authn resolves credentials.
	Authn combine.Authenticator
	// Credentials, when set, wakes open streams when their caller's
	// credentials may have changed (they also re-check periodically).
	Credentials combine.AccessWatcher
	Hooks       Hooks

	// Identity, Login and Engine hold each feature area's services (see
	// deps.go); the route table is routes.go.
	Identity IdentityDeps
	Login    LoginDeps
	Engine   EngineDeps

	// Pages is the browser UI: its page routes and the rendering of their
	// errors (nil: no pages; set by web.Mount).
	Pages Pages
	// pagePatterns are the patterns of the Page routes.
	pagePatterns map[string]bool

	// testRoutes are routes only tests add (export_test.go).
	testRoutes []Route
	mux        *http.ServeMux
	handler    http.Handler
	srv        *http.Server

	// shutdown is closed when the server begins to shut down, so that
	// long-lived streams end and let the drain complete.
	shutdown chan struct{}

	// Timeouts are the http.Server's limits (see DefaultTimeouts).
	Timeouts Timeouts
}

// Timeouts bound how long a client may take; Stream routes are exempt
// from ReadTimeout and WriteTimeout.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// DefaultTimeouts are the limits New sets.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second,
		Idle: 120 * time.Second, MaxHeaderBytes: 64 << 10}
}

// New returns a server. Set each area's dependencies (Authn, Identity,
// Login, Engine), then call Handler or Serve.
func New(cfg *config.Config, logger *slog.Logger, checker *health.Checker, reg *prometheus.Registry) *Server {
	s := &Server{
		cfg:      cfg,
		logger:   logger,
		health:   checker,
		metrics:  newMetrics(reg),
		streams:  newStreamLimits(reg),
		shutdown: make(chan struct{}),
		Timeouts: DefaultTimeouts(),
	}
	s.SetGatherer(reg)
	return s
}

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.logger }

// Config returns the server's configuration.
func (s *Server) Config() *config.Config { return s.cfg }

// ShuttingDown is closed when shutdown begins; streaming handlers select on
// it and end their response.
func (s *Server) ShuttingDown() <-chan struct{} { return s.shutdown }

// SessionCookieName is the session cookie's name: with secure cookies it
// carries the __Host- prefix, which browsers bind to Secure, Path=/ and no
// Domain.
func SessionCookieName(secure bool) string {
	if secure {
		return "__Host-combine_session"
	}
	return "combine_session"
}

// Handler builds (once) and returns the complete HTTP handler.
func (s *Server) Handler() (http.Handler, error) {
	if s.handler != nil {
		return s.handler, nil
	}
	if err := s.checkDeps(); err != nil {
		return nil, err
	}
	routes := s.Routes()
	if err := validateRoutes(routes); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.pagePatterns = map[string]bool{}
	for _, rt := range routes {
		mux.Handle(rt.Pattern, s.wrap(rt))
		if rt.Page {
			s.pagePatterns[rt.Pattern] = true
		}
		if rt.SecretPath {
			_, path, _ := strings.Cut(rt.Pattern, " ")
			prefix, _, _ := strings.Cut(path, "{")
			if !slices.Contains(s.secretPrefixes, prefix) {
				s.secretPrefixes = append(s.secretPrefixes, prefix)
			}
		}
	}
	mux.HandleFunc("/api/", s.apiFallback)
	if s.Pages != nil {
		// Outside /api/, a browser asking for what does not exist gets a
		// readable page rather than net/http's plain text.
		mux.HandleFunc("/", s.pageFallback)
	}
	s.mux = mux

	cop := http.NewCrossOriginProtection()
	// Behind a proxy that rewrites Host, the browser's Origin is still the
	// public one: trust it explicitly.
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("PUBLIC_URL as trusted origin: %w", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, combine.Errorf(combine.EFORBIDDEN, "cross-origin request refused"))
	}))
	var h http.Handler = cop.Handler(mux)
	h = s.guardText(h)
	h = s.limitBody(h)
	h = s.securityHeaders(h)
	h = s.recoverer(h)
	h = s.observe(h)
	s.handler = h
	return h, nil
}

// wrap turns a route into an http.Handler that enforces its access.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route, info.secretPath, info.quiet, info.rt = rt.Pattern, rt.SecretPath, rt.Quiet, rt
		}
		if rt.Stream {
			// Streams outlive the server's write timeout by design (net/http
			// already clears the read deadline once the request is read).
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		if rt.Access.Kind != AccessPublic {
			a, err := s.authenticate(r)
			if err != nil && rt.Access.Kind != AccessOptional {
				s.Error(w, r, err)
				return
			}
			if err := s.authorize(r, rt, a); err != nil {
				s.Error(w, r, err)
				return
			}
			if a != nil {
				if info := infoFrom(r.Context()); info != nil {
					info.auth = a
				}
				r = r.WithContext(combine.NewContextWithAuth(r.Context(), a))
			}
		}
		if err := rt.Handler(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

// authenticate extracts credentials (never from the query string) and asks
// the Authenticator. It returns (nil, nil) when none were presented.
func (s *Server) authenticate(r *http.Request) (*combine.AuthContext, error) {
	c := credentials(r, s.cfg.SessionSecureCookies)
	if info := infoFrom(r.Context()); info != nil {
		info.creds = c
	}
	if !c.HasAuthorization && c.Session == "" {
		return nil, nil
	}
	if s.Authn == nil {
		return nil, combine.Errorf(combine.EUNAUTHORIZED, "authentication is not available")
	}
	return s.Authn.Authenticate(r.Context(), c)
}

// credentials are what r presents: the Authorization header, the session
// cookie and the client address.
func credentials(r *http.Request, secureCookies bool) combine.Credentials {
	var c combine.Credentials
	if h, ok := r.Header["Authorization"]; ok {
		c.HasAuthorization = true
		if len(h) == 1 {
			scheme, tok, found := strings.Cut(h[0], " ")
			if found && strings.EqualFold(scheme, "Bearer") {
				c.Bearer = strings.TrimSpace(tok)
			}
		}
	}
	if ck, err := r.Cookie(SessionCookieName(secureCookies)); err == nil {
		c.Session = ck.Value
	}
	c.ClientAddr = combine.ClientAddrFromContext(r.Context())
	return c
}

func (s *Server) authorize(r *http.Request, rt Route, a *combine.AuthContext) error {
	switch rt.Access.Kind {
	case AccessPublic, AccessOptional:
		return nil
	}
	if a == nil {
		return combine.Errorf(combine.EUNAUTHORIZED, "authentication required: send a session cookie or an Authorization: Bearer personal access token")
	}
	if rt.Access.Kind != AccessPermission || a.Can(rt.Access.Permission) {
		return nil
	}
	if s.Hooks.Denied != nil {
		s.Hooks.Denied(r.Context(), a, string(rt.Access.Permission), rt.Pattern)
	}
	return combine.Forbidden(rt.Access.Permission)
}

// apiFallback answers every /api/ request that no route matched: 405 with
// Allow when the path exists for other methods, else 404 — as JSON.
func (s *Server) apiFallback(w http.ResponseWriter, r *http.Request) {
	s.fallback(w, r, "/api/", func(err error) { s.Error(w, r, err) })
}

// pageFallback answers every other request that no route matched, as a
// page: 405 with Allow when the path exists for other methods, else 404.
func (s *Server) pageFallback(w http.ResponseWriter, r *http.Request) {
	s.fallback(w, r, "/", func(err error) { s.Pages.RenderError(w, r, err) })
}

// fallback sends a 405 with Allow when the path exists for other methods
// (other than through the fallback pattern itself), else a 404.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request, self string, render func(error)) {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != self {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		render(combine.Errorf(combine.EMETHODNOTALLOWED, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	if self == "/" {
		render(combine.Errorf(combine.ENOTFOUND, "there is no page at %s", r.URL.Path))
		return
	}
	render(combine.Errorf(combine.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// isPage reports whether r is for a Page route: the route the request
// matched, or (before routing, e.g. a cross-origin refusal) the route the
// mux would pick.
func (s *Server) isPage(r *http.Request) bool {
	if s.Pages == nil {
		return false
	}
	if info := infoFrom(r.Context()); info != nil && info.route != "" {
		return s.pagePatterns[info.route]
	}
	if s.mux == nil {
		return false
	}
	_, p := s.mux.Handler(r)
	return s.pagePatterns[p] || (p == "/" && !strings.HasPrefix(r.URL.Path, "/api/"))
}

// Serve listens on the configured address until ctx is cancelled, then
// shuts down gracefully: readiness turns 503, the listener closes after
// ShutdownDelay, and in-flight requests get ShutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h, err := s.Handler()
	if err != nil {
		return err
	}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.Timeouts.ReadHeader,
		ReadTimeout:       s.Timeouts.Read,
		WriteTimeout:      s.Timeouts.Write,
		IdleTimeout:       s.Timeouts.Idle,
		MaxHeaderBytes:    s.Timeouts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.health.SetDraining()
	s.logger.Info("shutting down: readiness now reports not_ready", "drain_delay", s.cfg.ShutdownDelay.String())
	if s.cfg.ShutdownDelay > 0 {
		time.Sleep(s.cfg.ShutdownDelay)
	}
	close(s.shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err = s.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.logger.Warn("drain timed out; closing remaining connections", "timeout", s.cfg.ShutdownTimeout.String())
		_ = s.srv.Close()
		return nil
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
