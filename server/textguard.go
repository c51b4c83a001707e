package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/thecombine/combine"
)

// One rule for every piece of text a request brings — ids in paths,
// query filters, JSON strings, form fields and the headers that are
// stored: it must be UTF-8 without NUL characters, because PostgreSQL
// cannot store anything else and SQLite would store it differently. Such
// text is refused with 400 here, at the boundary, before any handler or
// database sees it, so both databases answer the same.

// storedHeaders are request headers whose values reach storage or a
// handler's logic.
var storedHeaders = []string{"User-Agent", "Last-Event-ID"}

// guardText refuses a request whose path, query or stored headers hold
// text that cannot be stored.
func (s *Server) guardText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requestTextError(r); err != nil {
			s.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requestTextError(r *http.Request) error {
	if !combine.ValidText(r.URL.Path) {
		return combine.Errorf(combine.EINVALID, "the path must be UTF-8 text without NUL characters")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return combine.Errorf(combine.EINVALID, "the query string is malformed (bad percent-encoding or separator)")
	}
	for k, vs := range q {
		if !combine.ValidText(k) {
			return combine.Errorf(combine.EINVALID, "query parameter names must be UTF-8 text without NUL characters")
		}
		for _, v := range vs {
			if !combine.ValidText(v) {
				return combine.Errorf(combine.EINVALID, "query parameter %q must be UTF-8 text without NUL characters", k)
			}
		}
	}
	for _, h := range storedHeaders {
		for _, v := range r.Header.Values(h) {
			if !combine.ValidText(v) {
				return combine.Errorf(combine.EINVALID, "the %s header must be UTF-8 text without NUL characters", h)
			}
		}
	}
	return nil
}

// maxJSONDepth bounds the nesting of a request body: no request of the
// API nests deeper, and a deep one costs stack and time for nothing.
const maxJSONDepth = 64

// checkJSONText refuses a JSON body that is not UTF-8, holds a string
// that decodes to a NUL or to a lone UTF-16 surrogate (encoding/json
// would silently turn those into U+FFFD), repeats a key within an object
// (which of the two wins is a guess), or nests deeper than maxJSONDepth.
// Syntax errors are left to the decoder, which words them better.
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return combine.Errorf(combine.EINVALID, "the request body must be UTF-8")
	}
	if err := scanEscapes(body); err != nil {
		return err
	}
	return scanStructure(body)
}

// scanEscapes walks the string literals of body and checks each \u escape.
func scanEscapes(b []byte) error {
	bad := func(what string) error {
		return combine.Errorf(combine.EINVALID, "the request body holds %s, which cannot be stored", what)
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return nil
			}
			i++
			if b[i] != 'u' {
				continue
			}
			r, ok := hex4(b, i+1)
			if !ok {
				return nil // a syntax error: the decoder reports it
			}
			i += 4
			switch {
			case r == 0:
				return bad(`a NUL character (\u0000)`)
			case r >= 0xDC00 && r <= 0xDFFF:
				return bad("a lone UTF-16 surrogate")
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
					return bad("a lone UTF-16 surrogate")
				}
				lo, ok := hex4(b, i+3)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return bad("a lone UTF-16 surrogate")
				}
				i += 6
			}
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// scanStructure walks body's tokens: duplicate keys and depth.
func scanStructure(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // the next string token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // a syntax error: the decoder reports it
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return combine.Errorf(combine.EINVALID, "the request body nests deeper than %d levels", maxJSONDepth)
				}
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]struct{}{}, key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.key {
				if _, dup := top.keys[v]; dup {
					return combine.Errorf(combine.EINVALID, "the request body repeats the key %q", combine.TruncateText(v, 60))
				}
				top.keys[v] = struct{}{}
				top.key = false
				continue
			}
			if top != nil && top.object {
				top.key = true
			}
		default:
			if top != nil && top.object {
				top.key = true
			}
		}
	}
}
