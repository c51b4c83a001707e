package workflow

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCodeIsTestedAndDocumented keeps the error codes, their tests
// and docs/workflows.md in step: a new code needs a failing case and a
// line in the docs.
func TestEveryCodeIsTestedAndDocumented(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "problem.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{} // constant → value
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Code") {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
			codes[vs.Names[0].Name], _ = strconv.Unquote(lit.Value)
		}
		return true
	})
	if len(codes) < 30 {
		t.Fatalf("found only %d codes in problem.go", len(codes))
	}
	docs, err := os.ReadFile("../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	var tests strings.Builder
	files, _ := filepath.Glob("*_test.go")
	for _, name := range files {
		if name == "codes_test.go" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(b)
	}
	for name, value := range codes {
		if !strings.Contains(string(docs), "`"+value+"`") {
			t.Errorf("code %s (%q) is not documented in docs/workflows.md", name, value)
		}
		if !strings.Contains(tests.String(), name) {
			t.Errorf("code %s has no test", name)
		}
	}
}
