package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No Docker engine or compose client runs here: these tests check what can
// be checked without one. The image's build command itself runs in TestMain.

func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, _ := os.ReadFile("../../go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(string(gomod))[1]
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("not a multi-stage build: %v", froms)
	}
	if !strings.Contains(froms[0][1], "golang:"+goVersion) {
		t.Errorf("builder %s does not use Go %s from go.mod", froms[0][1], goVersion)
	}
	if final := froms[len(froms)-1][1]; !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("final image %s is not distroless static nonroot", final)
	}
	env, args, err := dockerfileBuild("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	cmd := strings.Join(args, " ")
	if !slices.Contains(env, "CGO_ENABLED=0") || !strings.Contains(cmd, "-trimpath") ||
		!strings.Contains(cmd, "-X github.com/thecombine/combine.Version=${VERSION}") {
		t.Errorf("build command %v %q lacks CGO_ENABLED=0, -trimpath or the version ldflag", env, cmd)
	}
	out := args[slices.Index(args, "-o")+1]
	for _, want := range []string{
		"COPY --from=build " + out + " /combine",
		"USER 65532:65532",
		`HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 CMD ["/combine","healthcheck"]`,
		`VOLUME ["/data"]`,
		"DATABASE_URL=sqlite:///data/combine.db",
		`ENTRYPOINT ["/combine"]`,
		`CMD ["serve"]`,
		"EXPOSE 8000",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".git", "*.db"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "sqldb", "*.go"} {
		if slices.Contains(lines, needed) || slices.Contains(lines, "/"+needed) {
			t.Errorf(".dockerignore excludes %s, which the build needs", needed)
		}
	}
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseYAML(string(b))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = doc
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	checks := map[string]string{
		"services.db.image":                        "postgres:15-alpine",
		"services.app.depends_on.db.condition":     "service_healthy",
		"services.app.build.context":               ".",
		"services.app.environment.ENVIRONMENT":     "${ENVIRONMENT:-production}",
		"services.app.environment.SECRET_KEY":      "${SECRET_KEY:-}",
		"services.app.environment.SECRET_KEY_FILE": "${SECRET_KEY_FILE:-}",
	}
	for path, want := range checks {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %q", path, got, want)
		}
	}
	if hc, _ := get("services.db.healthcheck.test").(string); !strings.Contains(hc, "pg_isready") {
		t.Errorf("db healthcheck %q does not use pg_isready", hc)
	}
	if u, _ := get("services.app.environment.DATABASE_URL").(string); !strings.HasPrefix(u, "postgres://combine:") || !strings.Contains(u, "@db:5432/combine") {
		t.Errorf("DATABASE_URL %q does not point at the db service", u)
	}
	// Every named volume a service mounts is declared at the top level.
	declared, _ := get("volumes").(map[string]any)
	for _, svc := range []string{"db", "app"} {
		vols, _ := get("services." + svc + ".volumes").([]any)
		if len(vols) == 0 {
			t.Errorf("service %s mounts no volume", svc)
		}
		for _, v := range vols {
			name, _, _ := strings.Cut(v.(string), ":")
			if _, ok := declared[name]; !ok {
				t.Errorf("service %s mounts undeclared volume %q", svc, name)
			}
		}
	}
	if _, ok := declared["pgdata"]; !ok {
		t.Error("no named volume for PostgreSQL's data")
	}
	if _, err := os.Stat("../../" + get("services.app.build.context").(string) + "/Dockerfile"); err != nil {
		t.Errorf("the build context has no Dockerfile: %v", err)
	}
}

// parseYAML reads the block-style subset of YAML the compose file uses:
// nested mappings, "- item" sequences of scalars, scalars (quotes removed)
// and flow sequences kept as their text.
func parseYAML(src string) (map[string]any, error) {
	type frame struct {
		indent int
		node   any // map[string]any or *[]any
		key    string
		parent map[string]any
	}
	root := map[string]any{}
	stack := []frame{{indent: -1, node: root}}
	for n, raw := range strings.Split(src, "\n") {
		line := strings.TrimRight(raw, " ")
		trim := strings.TrimSpace(line)
		if trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for len(stack) > 1 && indent <= stack[len(stack)-1].indent {
			stack = stack[:len(stack)-1]
		}
		top := &stack[len(stack)-1]
		if item, ok := strings.CutPrefix(trim, "- "); ok {
			m, isMap := top.node.(map[string]any)
			if isMap && len(m) == 0 && top.parent != nil {
				list := []any{}
				top.node = &list
			}
			list, ok := top.node.(*[]any)
			if !ok {
				return nil, fmt.Errorf("line %d: list item outside a list", n+1)
			}
			*list = append(*list, unquote(item))
			top.parent[top.key] = *list
			continue
		}
		key, val, ok := strings.Cut(trim, ":")
		m, isMap := top.node.(map[string]any)
		if !ok || !isMap {
			return nil, fmt.Errorf("line %d: expected key: value", n+1)
		}
		key = unquote(key)
		if val = strings.TrimSpace(val); val != "" {
			m[key] = unquote(val)
			continue
		}
		child := map[string]any{}
		m[key] = child
		stack = append(stack, frame{indent: indent, node: child, key: key, parent: m})
	}
	return root, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}
