package workflow

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/thecombine/combine"
)

// schemaSet holds the compiled document schemas of one source, by name
// (the file name without ".json", e.g. "epic_backlog.v1").
type schemaSet struct {
	label    string
	schemas  map[string]*schema
	fallback *schemaSet
}

func (ss *schemaSet) get(name string) (*schema, bool) {
	for s := ss; s != nil; s = s.fallback {
		if sc, ok := s.schemas[name]; ok {
			return sc, true
		}
	}
	return nil, false
}

func (ss *schemaSet) describe() string {
	seen := map[string]bool{}
	for s := ss; s != nil; s = s.fallback {
		for k := range s.schemas {
			seen[k] = true
		}
	}
	return "available: " + describeList(sortedKeys(seen))
}

// loadSchemaSet compiles every dir/*.json of fsys. A missing directory
// yields an empty set.
func loadSchemaSet(fsys fs.FS, dir, label string) (*schemaSet, []*DefinitionError) {
	ss := &schemaSet{label: label, schemas: map[string]*schema{}}
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ss, nil
	} else if err != nil {
		return nil, []*DefinitionError{{File: label, Problems: []combine.Problem{{Code: CodeInvalidSchema, Path: "$", Message: err.Error()}}}}
	}
	var errs []*DefinitionError
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		file := path.Join(label, e.Name())
		raw, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err == nil {
			ss.schemas[name], err = compileSchema("combine:///schemas/"+e.Name(), raw)
		}
		if err != nil {
			delete(ss.schemas, name)
			errs = append(errs, &DefinitionError{File: file, Problems: []combine.Problem{{
				Code: CodeInvalidSchema, Path: "$", Message: fmt.Sprintf("not a valid JSON Schema (draft 2020-12): %v", err),
			}}})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ss, nil
}
