package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/thecombine/combine/internal/testdb"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"healthcheck", "--help"},
		{"version", "--help"}, {"config", "--help"}, {"config", "check", "--help"}, {"serve", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCombine(t, baseEnv(), args...)
			if r.code != 0 || !strings.Contains(r.stderr, "usage: combine") {
				t.Errorf("exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

func TestBadUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"serve", "--port=1"}, {"migrate", "extra"}, {"version", "-x"},
		{"config"}, {"config", "lint"}, {"config", "check", "--strict"}, {"healthcheck", "a", "b"},
		{"healthcheck", "ftp://127.0.0.1/"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCombine(t, baseEnv(), args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if len(args) > 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want a one-line error, got %q", r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") || r.stdout != "" {
				t.Errorf("stack trace or stdout output: %q %q", r.stderr, r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCombine(t, baseEnv(), "version")
	if r.code != 0 || strings.TrimSpace(r.stdout) != testVersion {
		t.Errorf("version: exit %d, %q; want %q from the ldflag", r.code, r.stdout, testVersion)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	r := runCombine(t, baseEnv("ENVIRONMENT=production", "PORT=http", "LOG_FORMAT=xml",
		"SESSION_SECURE_COOKIES=false", "DATABASE_URL=mysql://x"), "config", "check")
	if r.code != 1 {
		t.Errorf("invalid environment: exit %d, want 1", r.code)
	}
	for _, v := range []string{"PORT", "SECRET_KEY", "DATABASE_URL", "SESSION_SECURE_COOKIES", "LOG_FORMAT"} {
		if !strings.Contains(r.stderr, "  "+v+": ") {
			t.Errorf("config check does not list %s:\n%s", v, r.stderr)
		}
	}
	r = runCombine(t, baseEnv("ENVIRONMENT=production", "SECRET_KEY=0123456789abcdef0123456789abcdef",
		"DATABASE_URL=postgres://app:s3cret@db:5432/combine"), "config", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "configuration is valid") || strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("valid environment: exit %d, %q %q (the password must be hidden)", r.code, r.stdout, r.stderr)
	}
	r = runCombine(t, baseEnv(), "config", "check")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: SECRET_KEY") {
		t.Errorf("development: exit %d, want the generated-key warning: %q", r.code, r.stderr)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	closed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	closed.Close()
	tests := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"2xx", nil, []string{ok.URL + "/health/ready"}, 0},
		{"503", nil, []string{down.URL}, 1},
		{"refused", nil, []string{closed.URL}, 1},
		{"default URL from PORT", []string{"PORT=" + port(ok.URL)}, nil, 0},
		{"default URL from ADDR", []string{"ADDR=127.0.0.1:" + port(down.URL)}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCombine(t, baseEnv(tt.env...), append([]string{"healthcheck"}, tt.args...)...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d: %q %q", r.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

func port(u string) string { return u[strings.LastIndex(u, ":")+1:] }

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	env := baseEnv("DATABASE_URL=" + testdb.URL(t))
	first := runCombine(t, env, "migrate")
	second := runCombine(t, env, "migrate")
	if first.code != 0 || second.code != 0 || first.stdout != second.stdout ||
		!strings.HasPrefix(first.stdout, "database at schema version ") {
		t.Errorf("migrate twice on %s:\n%+v\n%+v", testdb.Name(), first, second)
	}
}

func TestMigrateUnreachableDatabase(t *testing.T) {
	t.Parallel()
	r := runCombine(t, baseEnv("DATABASE_URL=postgres://nobody:pw@127.0.0.1:1/none?connect_timeout=2"), "migrate")
	if r.code != 1 || strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, ":pw@") {
		t.Errorf("unreachable database: exit %d, %q", r.code, r.stderr)
	}
}
