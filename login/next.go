package login

import (
	"net/url"
	"strings"
)

// maxNextLen bounds the return path kept in the flow cookie.
const maxNextLen = 1024

// SafeNext returns next when it is a same-origin relative path ("/x",
// "/x?y#z"), else "/". It refuses what browsers would resolve elsewhere:
// scheme-relative "//host", "/\host" (browsers read "\" as "/"), absolute
// URLs, and control characters (browsers strip tabs and newlines, so
// "/\t/host" would become "//host").
func SafeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' {
		return "/"
	}
	if strings.ContainsAny(next, "\\") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	if strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
