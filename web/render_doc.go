package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// docNode is a part of a document rendered for reading: headings,
// paragraphs, lists and tables rather than JSON. The "doc" template
// renders it, calling itself for nested parts.
type docNode struct {
	// Kind is text, list, table, items, object or empty.
	Kind  string
	Label string
	Level int
	// Paras are the paragraphs of a text; Badge marks a short code-like
	// value (an enum).
	Paras []string
	Badge bool
	List  []*docNode
	// Columns and Rows make a table of a list of flat objects.
	Columns []string
	Rows    [][]*docNode
	Fields  []*docNode
}

// HeadingLevel clamps the heading level to h2…h6.
func (n *docNode) HeadingLevel() int { return max(2, min(n.Level, 6)) }

// renderDoc turns a document's content into a readable tree, in the
// schema's order of members (alphabetical when there is no schema).
func renderDoc(n *schemaNode, v any, label string, level int) *docNode {
	if n == nil {
		n = &schemaNode{Raw: true}
	}
	switch x := v.(type) {
	case nil:
		return &docNode{Kind: "empty", Label: label, Level: level}
	case map[string]any:
		out := &docNode{Kind: "object", Label: label, Level: level}
		for _, k := range memberOrder(n, x) {
			child := n.prop(k)
			out.Fields = append(out.Fields, renderDoc(child, x[k], labelOf(child, k), level+1))
		}
		return out
	case []any:
		var item *schemaNode
		if n.Items != nil {
			item = n.Items
		}
		if cols, ok := flatColumns(item, x); ok {
			out := &docNode{Kind: "table", Label: label, Level: level}
			for _, c := range cols {
				out.Columns = append(out.Columns, labelOf(propOf(item, c), c))
			}
			for _, el := range x {
				obj, _ := el.(map[string]any)
				row := make([]*docNode, len(cols))
				for i, c := range cols {
					row[i] = renderDoc(propOf(item, c), obj[c], "", level+2)
				}
				out.Rows = append(out.Rows, row)
			}
			return out
		}
		kind := "list"
		for _, el := range x {
			if _, ok := el.(map[string]any); ok {
				kind = "items"
			}
		}
		out := &docNode{Kind: kind, Label: label, Level: level}
		for i, el := range x {
			out.List = append(out.List, renderDoc(item, el, itemTitle(el, singularOf(label), i), level+1))
		}
		return out
	case string:
		return &docNode{Kind: "text", Label: label, Level: level, Paras: paragraphs(x), Badge: n.Type == "enum"}
	case bool:
		s := "No"
		if x {
			s = "Yes"
		}
		return &docNode{Kind: "text", Label: label, Level: level, Paras: []string{s}}
	default:
		return &docNode{Kind: "text", Label: label, Level: level, Paras: []string{fmt.Sprint(x)}, Badge: n.Type == "enum"}
	}
}

// memberOrder is the schema's order of an object's members, then any
// member the schema does not name, alphabetically.
func memberOrder(n *schemaNode, obj map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range n.Props {
		if _, ok := obj[p.Name]; ok {
			out = append(out, p.Name)
			seen[p.Name] = true
		}
	}
	for _, k := range sortedKeys(obj) {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

func propOf(n *schemaNode, name string) *schemaNode {
	if n == nil {
		return nil
	}
	return n.prop(name)
}

func labelOf(n *schemaNode, name string) string {
	if n != nil && n.Title != "" {
		return n.Title
	}
	return humanize(name)
}

// flatColumns reports whether a list of objects reads best as a table —
// every member short and scalar — and its columns.
func flatColumns(item *schemaNode, list []any) ([]string, bool) {
	if len(list) == 0 {
		return nil, false
	}
	var cols []string
	seen := map[string]bool{}
	for _, el := range list {
		obj, ok := el.(map[string]any)
		if !ok {
			return nil, false
		}
		for _, k := range memberOrder(orEmpty(item), obj) {
			switch v := obj[k].(type) {
			case string:
				if len([]rune(v)) > 160 {
					return nil, false
				}
			case map[string]any, []any:
				return nil, false
			}
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	if len(cols) > 5 {
		return nil, false
	}
	return cols, true
}

func orEmpty(n *schemaNode) *schemaNode {
	if n == nil {
		return &schemaNode{}
	}
	return n
}

// itemTitle names an item of a list: its id and title or name when it
// has them, else its position.
func itemTitle(v any, singular string, i int) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	var id, name string
	for k, val := range obj {
		s, _ := val.(string)
		switch {
		case k == "id" || strings.HasSuffix(k, "_id") && id == "":
			id = s
		case k == "title" || k == "name" && name == "":
			name = s
		}
	}
	switch {
	case id != "" && name != "":
		return id + " · " + name
	case name != "":
		return name
	case id != "":
		return singular + " " + id
	}
	return singular + " " + strconv.Itoa(i+1)
}

func paragraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{s}
	}
	return out
}

// leaf is one value of a flattened document: what the diff compares.
type leaf struct {
	Key   string
	Label string
	Text  string
}

// flatten lists a document's scalar values in reading order, each with
// a readable path ("Stakeholders › 2 › Role").
func flatten(n *schemaNode, v any, key, label string, out *[]leaf) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range memberOrder(orEmpty(n), x) {
			child := propOf(n, k)
			flatten(child, x[k], key+"."+k, joinLabel(label, labelOf(child, k)), out)
		}
		if len(x) == 0 {
			*out = append(*out, leaf{Key: key, Label: label, Text: "(empty)"})
		}
	case []any:
		var item *schemaNode
		if n != nil {
			item = n.Items
		}
		for i, el := range x {
			flatten(item, el, fmt.Sprintf("%s[%d]", key, i), joinLabel(label, strconv.Itoa(i+1)), out)
		}
		if len(x) == 0 {
			*out = append(*out, leaf{Key: key, Label: label, Text: "(none)"})
		}
	case nil:
		*out = append(*out, leaf{Key: key, Label: label, Text: "(null)"})
	case string:
		*out = append(*out, leaf{Key: key, Label: label, Text: x})
	default:
		b, _ := json.Marshal(x)
		*out = append(*out, leaf{Key: key, Label: label, Text: string(b)})
	}
}

func joinLabel(a, b string) string {
	if a == "" {
		return b
	}
	return a + " › " + b
}
