package workflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/thecombine/combine"
)

// ManifestFormat is the format label of a prompt manifest.
const ManifestFormat = "prompts.v1"

// Prompt kinds.
const (
	KindRole = "role"
	KindTask = "task"
)

var promptVersion = regexp.MustCompile(`^v[1-9][0-9]*$`)

// Manifest pins every prompt file of a prompt set by SHA-256.
type Manifest struct {
	Format  string          `json:"format"`
	Prompts []ManifestEntry `json:"prompts"`
}

// ManifestEntry is one pinned prompt file.
type ManifestEntry struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// File is relative to the manifest: "<kind>s/<name>.<version>.md".
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// ExpectedFile is the file name an entry must use.
func (e ManifestEntry) ExpectedFile() string {
	return fmt.Sprintf("%ss/%s.%s.md", e.Kind, e.Name, e.Version)
}

// promptSet is a verified prompt set. Roles are referenced by name (the
// manifest pins one version per role); tasks by "name.version".
type promptSet struct {
	dir      string
	roles    map[string]combine.ResolvedPrompt
	tasks    map[string]combine.ResolvedPrompt
	fallback *promptSet
}

func (ps *promptSet) role(name string) (combine.ResolvedPrompt, bool) {
	for s := ps; s != nil; s = s.fallback {
		if p, ok := s.roles[name]; ok {
			return p, true
		}
	}
	return combine.ResolvedPrompt{}, false
}

func (ps *promptSet) task(ref string) (combine.ResolvedPrompt, bool) {
	for s := ps; s != nil; s = s.fallback {
		if p, ok := s.tasks[ref]; ok {
			return p, true
		}
	}
	return combine.ResolvedPrompt{}, false
}

func (ps *promptSet) hasRole(name string) bool { _, ok := ps.role(name); return ok }
func (ps *promptSet) hasTask(ref string) bool  { _, ok := ps.task(ref); return ok }

func (ps *promptSet) roleNames() []string {
	return ps.names(func(s *promptSet) map[string]combine.ResolvedPrompt { return s.roles })
}
func (ps *promptSet) taskNames() []string {
	return ps.names(func(s *promptSet) map[string]combine.ResolvedPrompt { return s.tasks })
}

func (ps *promptSet) names(m func(*promptSet) map[string]combine.ResolvedPrompt) []string {
	seen := map[string]bool{}
	for s := ps; s != nil; s = s.fallback {
		for k := range m(s) {
			seen[k] = true
		}
	}
	return sortedKeys(seen)
}

// HashFile returns the lowercase hex SHA-256 of b, as pinned in manifests.
func HashFile(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// loadPromptSet reads dir/manifest.json from fsys and verifies every file
// it pins. A missing manifest yields an empty set. Every problem is
// reported, in a DefinitionError naming the manifest or the prompt file.
func loadPromptSet(fsys fs.FS, dir, label string) (*promptSet, []*DefinitionError) {
	ps := &promptSet{dir: label, roles: map[string]combine.ResolvedPrompt{}, tasks: map[string]combine.ResolvedPrompt{}}
	manifestPath := path.Join(dir, "manifest.json")
	mlabel := path.Join(label, "manifest.json")
	raw, err := fs.ReadFile(fsys, manifestPath)
	if errors.Is(err, fs.ErrNotExist) {
		return ps, nil
	} else if err != nil {
		return nil, []*DefinitionError{{File: mlabel, Problems: []combine.Problem{{Code: CodePromptManifest, Path: "$", Message: err.Error()}}}}
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, []*DefinitionError{{File: mlabel, Problems: []combine.Problem{{Code: CodePromptManifest, Path: "$", Message: "not a valid prompt manifest: " + err.Error()}}}}
	}
	var mp problems
	var tampered []*DefinitionError
	if m.Format != ManifestFormat {
		mp.add(CodePromptManifest, "$.format", "format is %q; expected %q", m.Format, ManifestFormat)
	}
	pinned := map[string]bool{}
	for i, e := range m.Prompts {
		p := index("$.prompts", i)
		if !checkEntry(&mp, p, e) {
			continue
		}
		pinned[e.File] = true
		text, err := fs.ReadFile(fsys, path.Join(dir, e.File))
		if err != nil {
			mp.add(CodePromptManifest, p+".file", "cannot read %s: %v", e.File, err)
			continue
		}
		if got := HashFile(text); got != e.SHA256 {
			tampered = append(tampered, &DefinitionError{File: path.Join(label, e.File), Problems: []combine.Problem{{
				Code: CodePromptTampered, Path: "$",
				Message: fmt.Sprintf("SHA-256 is %s but %s pins %s: the prompt was changed without updating the manifest (run go generate ./workflow, or add a new version)", got, mlabel, e.SHA256),
			}}})
			continue
		}
		rp := combine.ResolvedPrompt{PromptRef: combine.PromptRef{Kind: e.Kind, Name: e.Name, Version: e.Version, SHA256: e.SHA256}, Text: string(text)}
		if e.Kind == KindRole {
			if _, dup := ps.roles[e.Name]; dup {
				mp.add(CodePromptManifest, p, "role %q is pinned twice: a prompt set holds one version per role", e.Name)
			}
			ps.roles[e.Name] = rp
		} else {
			ref := e.Name + "." + e.Version
			if _, dup := ps.tasks[ref]; dup {
				mp.add(CodePromptManifest, p, "task prompt %q is pinned twice", ref)
			}
			ps.tasks[ref] = rp
		}
	}
	for _, f := range unpinnedFiles(fsys, dir, pinned) {
		mp.add(CodePromptManifest, "$.prompts", "prompt file %s is not pinned in the manifest", f)
	}
	errs := tampered
	if len(mp.list) > 0 {
		errs = append([]*DefinitionError{{File: mlabel, Problems: mp.list}}, errs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ps, nil
}

func checkEntry(mp *problems, p string, e ManifestEntry) bool {
	ok := true
	if e.Kind != KindRole && e.Kind != KindTask {
		mp.add(CodePromptManifest, p+".kind", "kind is %q; expected \"role\" or \"task\"", e.Kind)
		ok = false
	}
	if !snakeCase.MatchString(e.Name) {
		mp.add(CodePromptManifest, p+".name", "%q is not a snake_case name", e.Name)
		ok = false
	}
	if !promptVersion.MatchString(e.Version) {
		mp.add(CodePromptManifest, p+".version", "version %q is not of the form v1, v2, …", e.Version)
		ok = false
	}
	if ok && e.File != e.ExpectedFile() {
		mp.add(CodePromptManifest, p+".file", "file is %q; expected %q", e.File, e.ExpectedFile())
		ok = false
	}
	if len(e.SHA256) != 64 || strings.ToLower(e.SHA256) != e.SHA256 {
		mp.add(CodePromptManifest, p+".sha256", "sha256 must be 64 lowercase hex digits")
		ok = false
	}
	return ok
}

// unpinnedFiles lists the .md files under dir/roles and dir/tasks that the
// manifest does not pin: an unpinned prompt is ungoverned text.
func unpinnedFiles(fsys fs.FS, dir string, pinned map[string]bool) []string {
	var out []string
	for _, sub := range []string{"roles", "tasks"} {
		entries, _ := fs.ReadDir(fsys, path.Join(dir, sub))
		for _, e := range entries {
			rel := sub + "/" + e.Name()
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".md") && !pinned[rel] {
				out = append(out, rel)
			}
		}
	}
	sort.Strings(out)
	return out
}
