package workflow

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// BuildManifest computes the manifest of the prompt files under dir of
// fsys (roles/*.md and tasks/*.md, each named <name>.<version>.md). It is
// what `go generate ./workflow` writes to prompts/manifest.json after a
// deliberate prompt change.
func BuildManifest(fsys fs.FS, dir string) (*Manifest, error) {
	m := &Manifest{Format: ManifestFormat, Prompts: []ManifestEntry{}}
	for _, kind := range []string{KindRole, KindTask} {
		files, err := fs.Glob(fsys, path.Join(dir, kind+"s", "*.md"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			base := strings.TrimSuffix(path.Base(f), ".md")
			dot := strings.LastIndexByte(base, '.')
			if dot < 0 {
				return nil, fmt.Errorf("prompt file %s is not named <name>.<version>.md", f)
			}
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			e := ManifestEntry{Kind: kind, Name: base[:dot], Version: base[dot+1:], File: kind + "s/" + path.Base(f), SHA256: HashFile(b)}
			var ps problems
			if !checkEntry(&ps, f, e) {
				return nil, fmt.Errorf("prompt file %s: %s", f, ps.list[0].Message)
			}
			m.Prompts = append(m.Prompts, e)
		}
	}
	return m, nil
}

// Encode renders the manifest as committed: indented JSON with a final newline.
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
