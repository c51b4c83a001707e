package workflow

import (
	"regexp"
	"strconv"
	"strings"
)

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// field appends an object member to a JSON path: $.a, or $["a b"].
func field(path, name string) string {
	if plainKey.MatchString(name) {
		return path + "." + name
	}
	return path + "[" + strconv.Quote(name) + "]"
}

// index appends an array index to a JSON path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// pointerToPath turns a JSON pointer's tokens into a JSON path, using the
// instance to tell array indexes from object members.
func pointerToPath(inst any, tokens []string) string {
	path := "$"
	cur := inst
	for _, tok := range tokens {
		switch v := cur.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err == nil && i >= 0 && i < len(v) {
				path, cur = index(path, i), v[i]
				continue
			}
			path, cur = field(path, tok), nil
		case map[string]any:
			path, cur = field(path, tok), v[tok]
		default:
			path, cur = field(path, tok), nil
		}
	}
	return path
}

// joinQuoted renders names as "a", "b".
func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
