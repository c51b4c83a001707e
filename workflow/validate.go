package workflow

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/thecombine/combine"
)

// snakeCase is the form of every identifier of a definition.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// metaCodes maps structural (meta-schema) failures to definition codes.
func metaCodes(k jsonschema.ErrorKind) string {
	switch k.(type) {
	case *kind.Required:
		return CodeMissingField
	case *kind.AdditionalProperties:
		return CodeUnknownField
	case *kind.Type:
		return CodeInvalidType
	}
	return CodeInvalidValue
}

// resources is what a definition's names resolve against.
type resources struct {
	prompts *promptSet
	schemas *schemaSet
}

// parseDefinition parses raw strictly and validates it completely. On any
// problem it returns every problem found and a nil workflow. Structural
// problems (shape, types, unknown fields) are reported alone: the semantic
// checks need a well-formed definition to say anything meaningful.
func parseDefinition(raw []byte, meta *schema, res resources) (*combine.Workflow, []combine.Problem) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, []combine.Problem{{Code: CodeInvalidJSON, Path: "$", Message: "not valid JSON: " + err.Error()}}
	}
	ps := append(duplicateKeys(raw), meta.validate(inst, metaCodes)...)
	if len(ps) > 0 {
		return nil, ps
	}
	var wf combine.Workflow
	if err := json.Unmarshal(raw, &wf); err != nil {
		return nil, []combine.Problem{{Code: CodeInvalidType, Path: "$", Message: err.Error()}}
	}
	c := &checker{wf: &wf, res: res, stepPaths: map[string]string{}, producers: map[string]string{}}
	c.checkHeader()
	c.checkScopes()
	c.checkDocumentTypes()
	c.checkEntityTypes()
	c.checkOwnershipCycles()
	c.checkSteps()
	c.checkLLM()
	if len(c.ps.list) > 0 {
		return nil, c.ps.list
	}
	return &wf, nil
}

// checker validates one decoded definition, collecting every problem.
type checker struct {
	wf  *combine.Workflow
	res resources
	ps  problems

	root      string            // the root scope, "" when the tree is broken
	stepPaths map[string]string // step id → path of its first use
	producers map[string]string // doc type → path of the step producing it
}

func (c *checker) checkHeader() {
	wf := c.wf
	if wf.SchemaVersion != combine.WorkflowSchemaVersion {
		c.ps.add(CodeUnsupportedVersion, "$.schema_version", "schema_version is %q; only %q is supported", wf.SchemaVersion, combine.WorkflowSchemaVersion)
	}
	c.checkID("$.workflow_id", wf.ID)
	if _, err := time.Parse(time.DateOnly, wf.EffectiveDate); err != nil {
		c.ps.add(CodeInvalidDate, "$.effective_date", "effective_date %q is not a calendar date (YYYY-MM-DD)", wf.EffectiveDate)
	}
}

func (c *checker) checkID(path, id string) {
	if !snakeCase.MatchString(id) {
		c.ps.add(CodeInvalidID, path, "%q is not a snake_case identifier (lowercase letters, digits and single underscores, starting with a letter)", id)
	}
}

func (c *checker) checkScopes() {
	var roots []string
	for _, name := range sortedKeys(c.wf.Scopes) {
		path := field("$.scopes", name)
		c.checkID(path, name)
		p := c.wf.Scopes[name].Parent
		if p == nil {
			roots = append(roots, name)
			continue
		}
		if _, ok := c.wf.Scopes[*p]; !ok {
			c.ps.add(CodeUnknownScope, path+".parent", "parent scope %q is not declared in scopes", *p)
		} else if slices.Contains(c.chainRaw(*p), name) {
			c.ps.add(CodeScopeTree, path+".parent", "scope %q is its own ancestor (cycle through %q)", name, *p)
		}
	}
	switch len(roots) {
	case 1:
		c.root = roots[0]
	case 0:
		c.ps.add(CodeScopeTree, "$.scopes", "no root scope: exactly one scope must have \"parent\": null")
	default:
		c.ps.add(CodeScopeTree, "$.scopes", "several root scopes (%s): exactly one scope must have \"parent\": null", joinQuoted(roots))
	}
}

// chainRaw returns s and its ancestors, nearest first, stopping at an
// unknown parent or a repeat.
func (c *checker) chainRaw(s string) []string {
	var out []string
	for cur := s; cur != "" && !slices.Contains(out, cur); {
		def, ok := c.wf.Scopes[cur]
		if !ok {
			break
		}
		out = append(out, cur)
		if def.Parent == nil {
			break
		}
		cur = *def.Parent
	}
	return out
}

// isAncestorOrSelf reports whether a is s or one of s's ancestors.
func (c *checker) isAncestorOrSelf(a, s string) bool { return slices.Contains(c.chainRaw(s), a) }

// parentOf returns the parent scope of s, or "".
func (c *checker) parentOf(s string) string {
	if def, ok := c.wf.Scopes[s]; ok && def.Parent != nil {
		return *def.Parent
	}
	return ""
}

// relation describes where scope x lies relative to s, for messages.
func (c *checker) relation(x, s string) string {
	switch {
	case c.isAncestorOrSelf(s, x):
		return "a descendant"
	case c.parentOf(x) != "" && c.parentOf(x) == c.parentOf(s):
		return "a sibling"
	}
	return "another branch"
}

func (c *checker) knownScope(path, s string) bool {
	if _, ok := c.wf.Scopes[s]; !ok {
		c.ps.add(CodeUnknownScope, path, "scope %q is not declared in scopes", s)
		return false
	}
	return true
}

func (c *checker) checkDocumentTypes() {
	for _, id := range sortedKeys(c.wf.DocumentTypes) {
		dt := c.wf.DocumentTypes[id]
		path := field("$.document_types", id)
		c.checkID(path, id)
		c.knownScope(path+".scope", dt.Scope)
		for i, e := range dt.MayOwn {
			ep := index(path+".may_own", i)
			et, ok := c.wf.EntityTypes[e]
			if !ok {
				c.ps.add(CodeUnknownEntityType, ep, "entity type %q is not declared in entity_types", e)
			} else if et.ParentDocType != id {
				c.ps.add(CodeInvalidOwnership, ep, "entity type %q names %q as its parent_doc_type, not %q", e, et.ParentDocType, id)
			}
		}
		if len(dt.MayOwn) > 0 && dt.CollectionField == "" {
			c.ps.add(CodeInvalidOwnership, path+".collection_field", "a document type that may_own entities needs the collection_field that holds them")
		}
		if dt.CollectionField != "" && len(dt.MayOwn) == 0 {
			c.ps.add(CodeInvalidOwnership, path+".may_own", "collection_field %q is set but may_own lists no entity type", dt.CollectionField)
		}
		c.checkAcceptance(path, dt)
		if dt.Schema != "" {
			c.checkDocSchema(path, dt)
		}
	}
}

func (c *checker) checkAcceptance(path string, dt combine.DocumentTypeDef) {
	for i, r := range dt.AcceptedBy {
		if r != combine.RoleAdmin && !slices.Contains(combine.ReviewerRoles, r) {
			c.ps.add(CodeInvalidAcceptedBy, index(path+".accepted_by", i), "%q is not a reviewer role (%s) or \"admin\"", r, strings.Join(combine.ReviewerRoles, ", "))
		}
	}
	if dt.AcceptanceRequired && len(dt.AcceptedBy) == 0 {
		c.ps.add(CodeInvalidAcceptedBy, path+".accepted_by", "acceptance_required is true but accepted_by names no role (list \"admin\" for admin-only acceptance)")
	}
	if !dt.AcceptanceRequired && len(dt.AcceptedBy) > 0 {
		c.ps.add(CodeInvalidAcceptedBy, path+".accepted_by", "accepted_by has no effect unless acceptance_required is true")
	}
}

func (c *checker) checkEntityTypes() {
	for _, id := range sortedKeys(c.wf.EntityTypes) {
		et := c.wf.EntityTypes[id]
		path := field("$.entity_types", id)
		c.checkID(path, id)
		parent, ok := c.wf.DocumentTypes[et.ParentDocType]
		if !ok {
			c.ps.add(CodeUnknownDocumentType, path+".parent_doc_type", "document type %q is not declared in document_types", et.ParentDocType)
		} else if !slices.Contains(parent.MayOwn, id) {
			c.ps.add(CodeInvalidOwnership, path+".parent_doc_type", "document type %q does not list %q in may_own", et.ParentDocType, id)
		}
		if et.CreatesScope == "" || !c.knownScope(path+".creates_scope", et.CreatesScope) || !ok {
			continue
		}
		if c.parentOf(et.CreatesScope) != parent.Scope {
			c.ps.add(CodeScopeMismatch, path+".creates_scope", "scope %q must be a child of %q, the scope of its parent document type %q", et.CreatesScope, parent.Scope, et.ParentDocType)
		}
	}
}

// checkOwnershipCycles looks for a document type that, through the
// entities it owns and the scopes they create, ends up containing itself.
func (c *checker) checkOwnershipCycles() {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var visit func(doc string, trail []string)
	visit = func(doc string, trail []string) {
		state[doc] = active
		dt := c.wf.DocumentTypes[doc]
		for i, e := range dt.MayOwn {
			et, ok := c.wf.EntityTypes[e]
			if !ok || et.CreatesScope == "" {
				continue
			}
			for _, next := range sortedKeys(c.wf.DocumentTypes) {
				if c.wf.DocumentTypes[next].Scope != et.CreatesScope {
					continue
				}
				switch state[next] {
				case active:
					cycle := append(slices.Clone(trail), doc, e, next)
					c.ps.add(CodeOwnershipCycle, index(field("$.document_types", doc)+".may_own", i),
						"ownership cycle: %s", strings.Join(cycle[slices.Index(cycle, next):], " → "))
				case unseen:
					visit(next, append(slices.Clone(trail), doc, e))
				}
			}
		}
		state[doc] = done
	}
	for _, doc := range sortedKeys(c.wf.DocumentTypes) {
		if state[doc] == unseen {
			visit(doc, nil)
		}
	}
}

// describeList renders names for a message, or "none".
func describeList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return joinQuoted(names)
}

// checkDocSchema checks that the named schema exists and, for a type that
// owns entities, declares its collection_field as an array: otherwise no
// valid document could ever feed an iteration.
func (c *checker) checkDocSchema(path string, dt combine.DocumentTypeDef) {
	sc, ok := c.res.schemas.get(dt.Schema)
	if !ok {
		c.ps.add(CodeUnknownSchema, path+".schema", "schema %q is not in the schema set (%s)", dt.Schema, c.res.schemas.describe())
		return
	}
	if dt.CollectionField == "" {
		return
	}
	var doc struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(sc.raw, &doc)
	if prop, ok := doc.Properties[dt.CollectionField]; !ok || prop.Type != "array" {
		c.ps.add(CodeInvalidSchema, path+".schema", "schema %q does not declare collection_field %q as an array property", dt.Schema, dt.CollectionField)
	}
}
