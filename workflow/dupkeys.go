package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/thecombine/combine"
)

// duplicateKeys returns a problem for every repeated object member of a
// syntactically valid JSON text.
func duplicateKeys(raw []byte) []combine.Problem {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ps []combine.Problem
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				p := field(path, k)
				if seen[k] {
					ps = append(ps, combine.Problem{Code: CodeDuplicateKey, Path: p, Message: fmt.Sprintf("member %q appears more than once in this object", k)})
				}
				seen[k] = true
				if err := walk(p); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(index(path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk("$"); err != nil {
		return nil // syntax errors are reported by the parser
	}
	return ps
}
