package workflow

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thecombine/combine"
)

// builtinFS holds the built-in definitions, their prompt set and schemas,
// and the meta-schemas.
//
//go:embed builtin/*.json prompts schemas meta
var builtinFS embed.FS

// Options says where to load definitions from.
type Options struct {
	// Dir is WORKFLOWS_DIR: every *.json in it is a definition; its
	// prompts/ (with manifest.json) and schemas/ subdirectories extend the
	// built-in prompt and schema sets. Empty loads the built-ins only.
	Dir string
	// Builtin replaces the embedded built-in source (tests only); it must
	// have the same layout (builtin/*.json, prompts/, schemas/).
	Builtin fs.FS
}

// source is one place definitions come from.
type source struct {
	fsys       fs.FS
	defsDir    string // directory of the *.json definitions
	promptsDir string
	schemasDir string
	label      string // prefix naming files in errors
	prompts    *promptSet
	schemas    *schemaSet
}

func (s *source) name(p string) string { return s.label + p }

// Load reads and validates every definition, the built-ins first. Any
// problem anywhere fails the whole load with a *LoadError naming each
// file, JSON path and reason. A definition in Dir may not reuse the
// workflow_id of a built-in or of another file: to change a workflow,
// give the new one a new workflow_id.
func Load(opts Options) (*Registry, error) {
	meta, err := loadMetaSchemas()
	if err != nil {
		return nil, err
	}
	builtin := opts.Builtin
	if builtin == nil {
		builtin = builtinFS
	}
	var errs []*DefinitionError
	// The built-ins are labelled with their path in the repository.
	sources := []*source{{fsys: builtin, defsDir: "builtin", promptsDir: "prompts", schemasDir: "schemas", label: "workflow/"}}
	if opts.Dir != "" {
		st, err := os.Stat(opts.Dir)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("WORKFLOWS_DIR %q is not a readable directory", opts.Dir)
		}
		sources = append(sources, &source{fsys: os.DirFS(opts.Dir), defsDir: ".", promptsDir: "prompts", schemasDir: "schemas",
			label: strings.TrimSuffix(opts.Dir, string(filepath.Separator)) + string(filepath.Separator)})
	}
	var fallbackP *promptSet
	var fallbackS *schemaSet
	for _, src := range sources {
		var perrs, serrs []*DefinitionError
		src.prompts, perrs = loadPromptSet(src.fsys, src.promptsDir, src.name("prompts/"))
		src.schemas, serrs = loadSchemaSet(src.fsys, src.schemasDir, src.name("schemas/"))
		errs = append(append(errs, perrs...), serrs...)
		if src.prompts != nil {
			src.prompts.fallback = fallbackP
			fallbackP = src.prompts
		}
		if src.schemas != nil {
			src.schemas.fallback = fallbackS
			fallbackS = src.schemas
		}
	}
	if len(errs) > 0 {
		return nil, &LoadError{Errors: errs}
	}
	reg := &Registry{entries: map[string]*entry{}, clarification: meta.clarification}
	for _, src := range sources {
		errs = append(errs, reg.loadSource(src, meta.workflow)...)
	}
	if len(errs) > 0 {
		return nil, &LoadError{Errors: errs}
	}
	return reg, nil
}

// loadSource parses every definition of src into reg.
func (reg *Registry) loadSource(src *source, meta *schema) []*DefinitionError {
	var errs []*DefinitionError
	files, err := fs.Glob(src.fsys, path.Join(src.defsDir, "*.json"))
	if err != nil {
		return []*DefinitionError{{File: src.label, Problems: []combine.Problem{{Code: CodeInvalidJSON, Path: "$", Message: err.Error()}}}}
	}
	sort.Strings(files)
	for _, f := range files {
		file := src.name(f)
		raw, err := fs.ReadFile(src.fsys, f)
		if err != nil {
			errs = append(errs, &DefinitionError{File: file, Problems: []combine.Problem{{Code: CodeInvalidJSON, Path: "$", Message: err.Error()}}})
			continue
		}
		wf, ps := parseDefinition(raw, meta, resources{prompts: src.prompts, schemas: src.schemas})
		if len(ps) > 0 {
			errs = append(errs, &DefinitionError{File: file, Problems: ps})
			continue
		}
		if prev, dup := reg.entries[wf.ID]; dup {
			errs = append(errs, &DefinitionError{File: file, Problems: []combine.Problem{{
				Code: CodeDuplicateWorkflow, Path: "$.workflow_id",
				Message: fmt.Sprintf("workflow_id %q is already defined by %s; a definition never replaces another — give it a new workflow_id", wf.ID, prev.file),
			}}})
			continue
		}
		e, err := newEntry(wf, file, src)
		if err != nil {
			errs = append(errs, &DefinitionError{File: file, Problems: []combine.Problem{{Code: CodeInvalidJSON, Path: "$", Message: err.Error()}}})
			continue
		}
		reg.entries[wf.ID] = e
		reg.order = append(reg.order, wf.ID)
	}
	return errs
}

// metaSchemas are the compiled schemas of the formats themselves.
type metaSchemas struct {
	workflow      *schema
	clarification *schema
}

func loadMetaSchemas() (*metaSchemas, error) {
	var m metaSchemas
	for _, it := range []struct {
		file string
		dst  **schema
	}{
		{"meta/workflow.v1.schema.json", &m.workflow},
		{"meta/clarification_questions.v1.schema.json", &m.clarification},
	} {
		raw, err := builtinFS.ReadFile(it.file)
		if err == nil {
			*it.dst, err = compileSchema("combine:///"+it.file, raw)
		}
		if err != nil {
			return nil, fmt.Errorf("built-in meta-schema %s: %w", it.file, err)
		}
	}
	return &m, nil
}

// IsLoadError reports whether err is a definition problem (as opposed to
// an I/O failure), for callers that want to render the problems.
func IsLoadError(err error) bool {
	var le *LoadError
	return errors.As(err, &le)
}
