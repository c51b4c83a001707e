package workflow

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
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
	// Dir is WORKFLOWS_DIR: every *.json in it is a definition, and so is
	// the newest <workflow_id>/releases/<version>/definition.json of each
	// workflow (the original Combine's layout); its prompts/ (with
	// manifest.json) and schemas/ subdirectories extend the built-in
	// prompt and schema sets. Empty loads the built-ins only.
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
	files, releaseOf, warnings, err := definitionFiles(src)
	if err != nil {
		return []*DefinitionError{{File: src.label, Problems: []combine.Problem{{Code: CodeInvalidJSON, Path: "$", Message: err.Error()}}}}
	}
	reg.warnings = append(reg.warnings, warnings...)
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
		if dirID := releaseOf[f]; dirID != "" && dirID != wf.ID {
			errs = append(errs, &DefinitionError{File: file, Problems: []combine.Problem{{
				Code: CodeDuplicateWorkflow, Path: "$.workflow_id",
				Message: fmt.Sprintf("workflow_id %q does not match its directory %q (<workflow_id>/releases/<version>/definition.json)", wf.ID, dirID),
			}}})
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

// definitionFiles lists the definition files of src in load order: the
// *.json files of its definitions directory by name, then for each
// <id>/releases/<version>/definition.json layout the newest release (by
// version number) — releaseOf maps those to their <id>. Every other JSON
// file that is not loaded (an older release, a file in an unknown
// layout) is named in a warning: nothing is skipped silently.
func definitionFiles(src *source) (files []string, releaseOf map[string]string, warnings []string, err error) {
	files, err = fs.Glob(src.fsys, path.Join(src.defsDir, "*.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	sort.Strings(files)
	releaseOf = map[string]string{}
	if src.defsDir != "." {
		return files, releaseOf, nil, nil
	}
	newest := map[string]string{} // workflow dir → newest release file
	var others []string
	err = fs.WalkDir(src.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == src.promptsDir || p == src.schemasDir || (p != "." && strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".json") || !strings.Contains(p, "/") {
			return nil
		}
		parts := strings.Split(p, "/")
		if len(parts) == 4 && parts[1] == "releases" && parts[3] == "definition.json" {
			if cur, ok := newest[parts[0]]; !ok || compareVersions(parts[2], strings.Split(cur, "/")[2]) > 0 {
				if ok {
					others = append(others, cur)
				}
				newest[parts[0]] = p
			} else {
				others = append(others, p)
			}
			return nil
		}
		others = append(others, p)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, id := range sortedKeys(newest) {
		files = append(files, newest[id])
		releaseOf[newest[id]] = id
	}
	sort.Strings(others)
	for _, p := range others {
		parts := strings.Split(p, "/")
		if len(parts) == 4 && parts[1] == "releases" && parts[3] == "definition.json" {
			warnings = append(warnings, fmt.Sprintf("%s not loaded: %s is the newest release of %s",
				src.name(p), src.name(newest[parts[0]]), parts[0]))
		} else {
			warnings = append(warnings, fmt.Sprintf("%s not loaded: definitions are *.json at the top of WORKFLOWS_DIR or <workflow_id>/releases/<version>/definition.json",
				src.name(p)))
		}
	}
	return files, releaseOf, warnings, nil
}

// compareVersions orders release versions like 1.10.0 after 1.9.2:
// dot-separated numbers compare as numbers, anything else as text.
func compareVersions(a, b string) int {
	as, bs := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errX := strconv.Atoi(as[i])
		y, errY := strconv.Atoi(bs[i])
		switch {
		case errX == nil && errY == nil && x != y:
			return cmp.Compare(x, y)
		case (errX != nil || errY != nil) && as[i] != bs[i]:
			return strings.Compare(as[i], bs[i])
		}
	}
	return cmp.Compare(len(as), len(bs))
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
