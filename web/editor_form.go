package web

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The document editor names each input after the JSON path of its value:
// "doc" for the document, then one token per member or array index,
// joined with "/" (JSON Pointer escaping: "~" is "~0", "/" is "~1"), e.g.
// "doc/stakeholders/0/role". The server reads a posted form back into a
// document with the schema as its guide, so the same form works with or
// without the script (which only adds and removes rows in the browser).

// docRoot is the form name of the document itself.
const docRoot = "doc"

// childPath appends a member name or index to a form path.
func childPath(p, token string) string {
	return p + "/" + strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

// readForm turns the posted fields under docRoot into a document. With
// keepEmpty (re-rendering after an editor operation) empty array items
// stay, so the rows a person added are still there; for a submission
// they are dropped, like empty optional fields.
func readForm(n *schemaNode, form url.Values, keepEmpty bool) any {
	v, _ := readValue(n, docRoot, form, true, keepEmpty)
	if v == nil {
		return map[string]any{}
	}
	return v
}

// readValue reads the value at path p; ok is false when nothing was given.
// jsonOrText decodes s as JSON (numbers kept exact); text that is not
// JSON is kept as it is, for QA to say what is wrong with it.
func jsonOrText(s string) any {
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return s
	}
	return v
}

func readValue(n *schemaNode, p string, form url.Values, required, keepEmpty bool) (any, bool) {
	if n.Raw {
		s := strings.TrimSpace(textValue(form, p))
		if s == "" {
			return nil, false
		}
		return jsonOrText(s), true
	}
	switch n.Type {
	case "object":
		obj := map[string]any{}
		for _, pr := range n.Props {
			if v, ok := readValue(pr.Node, childPath(p, pr.Name), form, n.isRequired(pr.Name), keepEmpty); ok {
				obj[pr.Name] = v
			}
		}
		if len(obj) == 0 && !required {
			return nil, false
		}
		return obj, true
	case "array":
		idx := arrayIndexes(form, p)
		items := []any{}
		for _, i := range idx {
			v, ok := readValue(n.Items, childPath(p, strconv.Itoa(i)), form, false, keepEmpty)
			if ok {
				items = append(items, v)
			} else if keepEmpty {
				items = append(items, nil)
			}
		}
		if len(items) == 0 && !required {
			return nil, false
		}
		return items, true
	case "boolean":
		switch form.Get(p) {
		case "true", "on":
			return true, true
		case "false":
			return false, true
		}
		if required && form.Has(p+"/#") {
			// An unticked checkbox sends nothing; its marker says it was there.
			return false, true
		}
		return nil, false
	case "enum":
		s := form.Get(p)
		if s == "" {
			return nil, false
		}
		return jsonOrText(s), true
	case "integer", "number":
		s := strings.TrimSpace(form.Get(p))
		if s == "" {
			return nil, false
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return s, true // QA names the type problem at this field
		}
		return json.Number(s), true
	default: // string
		s := textValue(form, p)
		if s == "" {
			return nil, false
		}
		return s, true
	}
}

// textValue is a posted text with the browser's CRLF line ends as LF.
func textValue(form url.Values, p string) string {
	return strings.ReplaceAll(form.Get(p), "\r\n", "\n")
}

// arrayIndexes lists the item indexes posted under the array at p, in
// order. Rows removed in the browser leave gaps; the order is kept.
func arrayIndexes(form url.Values, p string) []int {
	prefix := p + "/"
	seen := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		tok, _, _ := strings.Cut(rest, "/")
		if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < 10000 {
			seen[i] = true
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// applyOp changes the document tree for an editor operation posted
// without the script: "add:<array path>" appends an empty row,
// "remove:<item path>" deletes one.
func applyOp(doc any, op string) any {
	verb, p, ok := strings.Cut(op, ":")
	if !ok || !strings.HasPrefix(p, docRoot) {
		return doc
	}
	toks := splitPath(p)
	switch verb {
	case "add":
		return updateAt(doc, toks, func(v any) any {
			arr, _ := v.([]any)
			return append(arr, nil)
		})
	case "remove":
		if len(toks) == 0 {
			return doc
		}
		i, err := strconv.Atoi(toks[len(toks)-1])
		if err != nil {
			return doc
		}
		return updateAt(doc, toks[:len(toks)-1], func(v any) any {
			arr, _ := v.([]any)
			if i < 0 || i >= len(arr) {
				return arr
			}
			return append(arr[:i:i], arr[i+1:]...)
		})
	}
	return doc
}

// splitPath returns the tokens of a form path after docRoot.
func splitPath(p string) []string {
	rest, ok := strings.CutPrefix(p, docRoot)
	if !ok || rest == "" {
		return nil
	}
	toks := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks
}

// updateAt replaces the value at toks inside doc by fn(value).
func updateAt(doc any, toks []string, fn func(any) any) any {
	if len(toks) == 0 {
		return fn(doc)
	}
	switch v := doc.(type) {
	case map[string]any:
		v[toks[0]] = updateAt(v[toks[0]], toks[1:], fn)
		return v
	case []any:
		i, err := strconv.Atoi(toks[0])
		if err != nil || i < 0 || i >= len(v) {
			return v
		}
		v[i] = updateAt(v[i], toks[1:], fn)
		return v
	case nil:
		m := map[string]any{}
		if _, err := strconv.Atoi(toks[0]); err == nil {
			return doc
		}
		m[toks[0]] = updateAt(nil, toks[1:], fn)
		return m
	}
	return doc
}

// decodeDoc parses a document's JSON keeping numbers exact.
func decodeDoc(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// problemPath splits a QA problem ("$.goals[0]: message") into the form
// path of the value it names and its message. A text without a
// recognisable path is about the whole document.
func problemPath(text string) (string, string) {
	if !strings.HasPrefix(text, "$") {
		return docRoot, text
	}
	p, i := docRoot, 1
	for i < len(text) {
		switch text[i] {
		case '.':
			j := i + 1
			for j < len(text) && (text[j] == '_' || text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' || text[j] >= '0' && text[j] <= '9') {
				j++
			}
			p, i = childPath(p, text[i+1:j]), j
			continue
		case '[':
			if i+1 < len(text) && text[i+1] == '"' {
				// A quoted member: ["a b"].
				end := strings.Index(text[i:], `"]`)
				if end < 0 {
					return docRoot, text
				}
				name, err := strconv.Unquote(text[i+1 : i+end+1])
				if err != nil {
					return docRoot, text
				}
				p, i = childPath(p, name), i+end+2
				continue
			}
			end := strings.IndexByte(text[i:], ']')
			if end < 0 {
				return docRoot, text
			}
			p, i = childPath(p, text[i+1:i+end]), i+end+1
			continue
		case ':':
			return p, strings.TrimSpace(text[i+1:])
		}
		return docRoot, text
	}
	return p, ""
}
