package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/thecombine/combine"
)

var printer = message.NewPrinter(language.English)

// schema is a compiled JSON Schema (draft 2020-12) and its source text.
type schema struct {
	raw json.RawMessage
	sch *jsonschema.Schema
}

// compileSchema compiles one self-contained schema document.
func compileSchema(url string, raw []byte) (*schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// No network or file access: a schema must be self-contained.
	c.UseLoader(noLoader{})
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	return &schema{raw: json.RawMessage(bytes.TrimSpace(raw)), sch: sch}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema reference %q is not allowed: schemas must be self-contained", url)
}

// kindCode maps a validation error kind to a problem code.
type kindCode func(k jsonschema.ErrorKind) string

// documentCodes reports every document schema failure under one code.
func documentCodes(jsonschema.ErrorKind) string { return CodeDocumentSchema }

// validateJSON parses content and validates it, returning every problem.
func (s *schema) validateJSON(content []byte, codes kindCode) []combine.Problem {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(content))
	if err != nil {
		return []combine.Problem{{Code: CodeDocumentJSON, Path: "$", Message: "not valid JSON: " + err.Error()}}
	}
	return s.validate(inst, codes)
}

// validate checks a parsed instance (from jsonschema.UnmarshalJSON).
func (s *schema) validate(inst any, codes kindCode) []combine.Problem {
	err := s.sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []combine.Problem{{Code: codes(nil), Path: "$", Message: err.Error()}}
	}
	var out []combine.Problem
	seen := map[combine.Problem]bool{}
	add := func(p combine.Problem) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := pointerToPath(inst, e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				add(combine.Problem{Code: codes(k), Path: field(path, name), Message: fmt.Sprintf("missing required field %q", name)})
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(combine.Problem{Code: codes(k), Path: field(path, name), Message: fmt.Sprintf("unknown field %q", name)})
			}
		default:
			add(combine.Problem{Code: codes(k), Path: path, Message: e.ErrorKind.LocalizedString(printer)})
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
