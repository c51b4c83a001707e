package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// secrets are the variables that also accept NAME_FILE.
var secrets = map[string]bool{
	"SECRET_KEY": true, "DATABASE_URL": true,
	"GOOGLE_CLIENT_SECRET": true, "MICROSOFT_CLIENT_SECRET": true, "OIDC_CLIENT_SECRET": true,
	"ANTHROPIC_API_KEY": true, "OPENAI_API_KEY": true,
}

// loader accumulates problems while reading variables.
type loader struct {
	src      Source
	problems []Problem
}

func (l *loader) fail(name, format string, args ...any) {
	l.problems = append(l.problems, Problem{Var: name, Reason: fmt.Sprintf(format, args...)})
}

// get returns the trimmed value of name (or of NAME_FILE for secrets).
func (l *loader) get(name string) (string, bool) {
	v, ok := l.src.Lookup(name)
	if secrets[name] {
		if path, fok := l.src.Lookup(name + "_FILE"); fok && path != "" {
			if ok && v != "" {
				l.fail(name+"_FILE", "set together with %s; use only one", name)
				return "", false
			}
			b, err := l.src.ReadFile(path)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				l.fail(name+"_FILE", "cannot read %s: %v", path, err)
				return "", false
			}
			v := strings.TrimSpace(string(b))
			if v == "" {
				l.fail(name+"_FILE", "file %s is empty", path)
				return "", false
			}
			return v, true
		}
	}
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (l *loader) str(name, def string) string {
	if v, ok := l.get(name); ok {
		return v
	}
	return def
}

func (l *loader) oneOf(name, def string, allowed ...string) string {
	v := l.str(name, def)
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	l.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (l *loader) integer(name string, def, lo, hi int) int {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.fail(name, "%q is not a whole number", v)
		return def
	}
	if n < lo || n > hi {
		l.fail(name, "%d is out of range [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

func (l *loader) boolean(name string, def bool) (bool, bool) {
	v, ok := l.get(name)
	if !ok {
		return def, false
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	l.fail(name, "%q is not a boolean (true/false)", v)
	return def, false
}

func (l *loader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.fail(name, "%q is not a duration (e.g. 30s, 2m)", v)
		return def
	}
	if d < lo || d > hi {
		l.fail(name, "%s is out of range [%s, %s]", d, lo, hi)
		return def
	}
	return d
}

func (l *loader) list(name string) []string {
	v, ok := l.get(name)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) absURL(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "%q is not an absolute http(s) URL", v)
	}
}

func (l *loader) pair(idName, id, secretName, secret string) {
	if id != "" && secret == "" {
		l.fail(secretName, "required when %s is set", idName)
	} else if id == "" && secret != "" {
		l.fail(idName, "required when %s is set", secretName)
	}
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func checkDatabaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	switch u.Scheme {
	case "sqlite":
		if strings.TrimPrefix(u.Path, "/") == "" && u.Opaque == "" {
			return fmt.Errorf("sqlite URL needs a file path, e.g. sqlite:///./combine.db")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("sqlite URL takes no query parameters (pragmas are set by the server)")
		}
	case "postgres", "postgresql":
		if u.Host == "" && u.Query().Get("host") == "" {
			return fmt.Errorf("postgres URL needs a host")
		}
	default:
		return fmt.Errorf("scheme %q is not sqlite, postgres or postgresql", u.Scheme)
	}
	return nil
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && validDomain(s[at+1:]) && !strings.ContainsAny(s, " \t<>,")
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

func validTenant(s string) bool {
	switch s {
	case "common", "organizations", "consumers":
		return true
	}
	if len(s) == 36 && strings.Count(s, "-") == 4 {
		return true
	}
	return validDomain(s)
}
