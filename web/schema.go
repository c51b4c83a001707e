package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// schemaNode is the part of a JSON schema the document editor and the
// document renderer understand, with properties in the schema's own
// order (a Go map would lose it). Anything else — combinators,
// references, maps, several types — is Raw: edited as JSON text.
type schemaNode struct {
	Type        string // object, array, string, integer, number, boolean, enum; "" when Raw
	Title       string
	Description string
	Props       []schemaProp
	Required    []string
	Items       *schemaNode
	Enum        []json.RawMessage
	MinLength   *int
	MaxLength   *int
	MinItems    *int
	MaxItems    *int
	Minimum     *float64
	Maximum     *float64
	Pattern     string
	// Raw marks a schema the form cannot represent.
	Raw bool
}

type schemaProp struct {
	Name string
	Node *schemaNode
}

// isRequired reports whether the object requires member name.
func (n *schemaNode) isRequired(name string) bool { return slices.Contains(n.Required, name) }

// prop returns the schema of member name, or nil.
func (n *schemaNode) prop(name string) *schemaNode {
	for _, p := range n.Props {
		if p.Name == name {
			return p.Node
		}
	}
	return nil
}

// parseSchema reads a JSON schema. A nil or empty schema is Raw.
func parseSchema(raw json.RawMessage) (*schemaNode, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return &schemaNode{Raw: true}, nil
	}
	return parseNode(raw, 0)
}

func parseNode(raw json.RawMessage, depth int) (*schemaNode, error) {
	if depth > 32 {
		return &schemaNode{Raw: true}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("schema is not an object: %w", err)
	}
	n := &schemaNode{}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	intp := func(k string) *int {
		if v, ok := m[k]; ok {
			var i int
			if json.Unmarshal(v, &i) == nil {
				return &i
			}
		}
		return nil
	}
	floatp := func(k string) *float64 {
		if v, ok := m[k]; ok {
			var f float64
			if json.Unmarshal(v, &f) == nil {
				return &f
			}
		}
		return nil
	}
	n.Title, n.Description, n.Pattern = str("title"), str("description"), str("pattern")
	n.MinLength, n.MaxLength, n.MinItems, n.MaxItems = intp("minLength"), intp("maxLength"), intp("minItems"), intp("maxItems")
	n.Minimum, n.Maximum = floatp("minimum"), floatp("maximum")
	for _, k := range []string{"$ref", "oneOf", "anyOf", "allOf", "not", "if", "patternProperties", "prefixItems"} {
		if _, ok := m[k]; ok {
			n.Raw = true
			return n, nil
		}
	}
	if e, ok := m["enum"]; ok {
		if err := json.Unmarshal(e, &n.Enum); err != nil || len(n.Enum) == 0 {
			n.Raw = true
			return n, nil
		}
		n.Type = "enum"
		return n, nil
	}
	if c, ok := m["const"]; ok {
		n.Type, n.Enum = "enum", []json.RawMessage{c}
		return n, nil
	}
	var typ string
	if err := json.Unmarshal(m["type"], &typ); err != nil {
		n.Raw = true
		return n, nil
	}
	n.Type = typ
	switch typ {
	case "object":
		if ap, ok := m["additionalProperties"]; ok && !bytes.Equal(bytes.TrimSpace(ap), []byte("false")) {
			// A map of arbitrary keys: no fixed form.
			n.Raw = true
			return n, nil
		}
		if _, ok := m["properties"]; !ok {
			n.Raw = true
			return n, nil
		}
		_ = json.Unmarshal(m["required"], &n.Required)
		props, err := orderedMembers(m["properties"])
		if err != nil {
			return nil, err
		}
		for _, p := range props {
			child, err := parseNode(p.value, depth+1)
			if err != nil {
				return nil, err
			}
			n.Props = append(n.Props, schemaProp{Name: p.key, Node: child})
		}
	case "array":
		it, ok := m["items"]
		if !ok {
			n.Raw = true
			return n, nil
		}
		child, err := parseNode(it, depth+1)
		if err != nil {
			return nil, err
		}
		n.Items = child
	case "string", "integer", "number", "boolean":
	default:
		n.Raw = true
	}
	return n, nil
}

type member struct {
	key   string
	value json.RawMessage
}

// orderedMembers returns an object's members in document order.
func orderedMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected an object")
	}
	var out []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: kt.(string), value: v})
	}
	return out, nil
}
