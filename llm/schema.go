package llm

import (
	"encoding/json"
	"fmt"
	"sort"
)

// decodeSchema parses a JSON schema into generic values; nil is any object.
func decodeSchema(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{"type": "object"}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	return m, nil
}

// cleanSchema is a document schema as a provider takes it: without the
// meta keywords that identify the file ($schema, $id), which providers
// reject or ignore. The document's validation (the QA gate) still uses
// the full schema.
func cleanSchema(raw json.RawMessage) (map[string]any, error) {
	m, err := decodeSchema(raw)
	if err != nil {
		return nil, err
	}
	delete(m, "$schema")
	delete(m, "$id")
	return m, nil
}

// Keywords kept by strictSchema, per kind of schema: the subset that
// OpenAI's strict structured outputs accept. Others (minLength,
// maxLength, uniqueItems, …) are dropped: the QA gate checks them.
var (
	strictCommon = []string{"description"}
	strictString = []string{"pattern", "format"}
	strictNumber = []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
	strictArray  = []string{"minItems", "maxItems"}
	// strictRefuse are keywords strict mode cannot express: a schema with
	// any of them is sent non-strict.
	strictRefuse = []string{"oneOf", "allOf", "not", "if", "then", "else", "$ref", "$defs", "definitions",
		"patternProperties", "dependentSchemas", "dependentRequired", "prefixItems", "contains", "unevaluatedProperties"}
)

// strictSchema derives from a document schema one that OpenAI's strict
// mode accepts: every property required (the optional ones nullable, the
// nulls removed again by dropNulls), additionalProperties false on every
// object, only supported keywords. ok is false when the schema uses
// something strict mode cannot express; then it is sent non-strict.
func strictSchema(schema map[string]any) (out map[string]any, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			out, ok = nil, false
		}
	}()
	return strictNode(schema), true
}

type notStrict struct{ reason string }

func strictNode(s map[string]any) map[string]any {
	for _, k := range strictRefuse {
		if _, has := s[k]; has {
			panic(notStrict{k})
		}
	}
	out := map[string]any{}
	keep := func(keys []string) {
		for _, k := range append(keys, strictCommon...) {
			if v, has := s[k]; has {
				out[k] = v
			}
		}
	}
	if alts, has := s["anyOf"].([]any); has {
		var list []any
		for _, a := range alts {
			am, isMap := a.(map[string]any)
			if !isMap {
				panic(notStrict{"anyOf"})
			}
			list = append(list, strictNode(am))
		}
		out["anyOf"] = list
		keep(nil)
		return out
	}
	typ := s["type"]
	if enum, has := s["enum"].([]any); has {
		out["enum"] = enum
		if typ == nil {
			typ = enumType(enum)
		}
	}
	if c, has := s["const"]; has {
		out["const"] = c
		if typ == nil {
			typ = enumType([]any{c})
		}
	}
	if typ == nil {
		panic(notStrict{"type"})
	}
	out["type"] = typ
	switch primaryType(typ) {
	case "object":
		props, _ := s["properties"].(map[string]any)
		if ap, has := s["additionalProperties"]; has && ap != false {
			panic(notStrict{"additionalProperties"}) // a map type: strict mode needs fixed properties
		}
		required := map[string]bool{}
		if req, has := s["required"].([]any); has {
			for _, r := range req {
				required[fmt.Sprint(r)] = true
			}
		}
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		outProps := map[string]any{}
		reqList := make([]any, 0, len(names))
		for _, k := range names {
			pm, isMap := props[k].(map[string]any)
			if !isMap {
				panic(notStrict{"properties"})
			}
			p := strictNode(pm)
			if !required[k] {
				p = nullable(p)
			}
			outProps[k] = p
			reqList = append(reqList, k)
		}
		out["properties"] = outProps
		out["required"] = reqList
		out["additionalProperties"] = false
		keep(nil)
	case "array":
		if items, has := s["items"].(map[string]any); has {
			out["items"] = strictNode(items)
		} else {
			panic(notStrict{"items"})
		}
		keep(strictArray)
	case "string":
		keep(strictString)
	case "number", "integer":
		keep(strictNumber)
	default:
		keep(nil)
	}
	return out
}

// primaryType is the non-null type of a type keyword.
func primaryType(t any) string {
	switch v := t.(type) {
	case string:
		return v
	case []any:
		for _, x := range v {
			if s, _ := x.(string); s != "null" {
				return s
			}
		}
	}
	return ""
}

// enumType infers the type keyword strict mode requires beside an enum.
func enumType(values []any) any {
	var types []any
	seen := map[string]bool{}
	for _, v := range values {
		var t string
		switch x := v.(type) {
		case string:
			t = "string"
		case bool:
			t = "boolean"
		case nil:
			t = "null"
		case float64:
			if x == float64(int64(x)) {
				t = "integer"
			} else {
				t = "number"
			}
		default:
			panic(notStrict{"enum"})
		}
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	if seen["integer"] && seen["number"] {
		return "number"
	}
	if len(types) == 1 {
		return types[0]
	}
	return types
}

// nullable makes a strict node also accept null.
func nullable(n map[string]any) map[string]any {
	if alts, has := n["anyOf"].([]any); has {
		n["anyOf"] = append(alts, map[string]any{"type": "null"})
		return n
	}
	switch t := n["type"].(type) {
	case string:
		if t != "null" {
			n["type"] = []any{t, "null"}
		}
	case []any:
		n["type"] = append(t, "null")
	}
	if enum, has := n["enum"].([]any); has {
		n["enum"] = append(enum, nil)
	}
	return n
}

// dropNulls removes the null members a strict answer gives for the
// optional properties of the original schema, so that the document says
// what a person would have written (an absent field, not a null one).
func dropNulls(v any, schema map[string]any) any {
	switch x := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		required := map[string]bool{}
		if req, has := schema["required"].([]any); has {
			for _, r := range req {
				required[fmt.Sprint(r)] = true
			}
		}
		for k, val := range x {
			ps, _ := props[k].(map[string]any)
			if val == nil && !required[k] && !allowsNull(ps) {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(val, ps)
		}
		return x
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i := range x {
			x[i] = dropNulls(x[i], items)
		}
		return x
	}
	return v
}

// allowsNull reports whether a property schema of the original document
// schema accepts null itself.
func allowsNull(s map[string]any) bool {
	if s == nil {
		return false
	}
	switch t := s["type"].(type) {
	case string:
		return t == "null"
	case []any:
		for _, x := range t {
			if x == "null" {
				return true
			}
		}
	}
	if enum, has := s["enum"].([]any); has {
		for _, e := range enum {
			if e == nil {
				return true
			}
		}
	}
	return false
}
