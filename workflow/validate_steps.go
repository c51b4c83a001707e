package workflow

import (
	"maps"
	"slices"

	"github.com/thecombine/combine"
)

// stepCtx is where a list of steps runs: its scope and, per scope of the
// chain, the entity type of the iteration that opened it.
type stepCtx struct {
	scope      string
	iterEntity string            // entity type of the innermost iteration
	iterations map[string]string // scope → entity type iterated to open it
}

func (c *checker) checkSteps() {
	c.walkSteps(c.wf.Steps, "$.steps", stepCtx{scope: c.root, iterations: map[string]string{}})
}

func (c *checker) walkSteps(steps []combine.StepDef, path string, ctx stepCtx) {
	for i := range steps {
		s := &steps[i]
		p := index(path, i)
		c.checkID(p+".step_id", s.ID)
		if first, dup := c.stepPaths[s.ID]; dup {
			c.ps.add(CodeDuplicateStepID, p+".step_id", "step_id %q is already used at %s", s.ID, first)
		} else {
			c.stepPaths[s.ID] = p + ".step_id"
		}
		if s.IsIteration() {
			c.checkIteration(s, p, ctx)
		} else {
			c.checkProduction(s, p, ctx)
		}
	}
}

func (c *checker) checkProduction(s *combine.StepDef, p string, ctx stepCtx) {
	if s.Steps != nil {
		c.ps.add(CodeInvalidStep, p+".steps", "only an iteration step (with iterate_over) may have nested steps")
	}
	for _, f := range []struct{ name, val string }{{"role", s.Role}, {"task_prompt", s.TaskPrompt}, {"produces", s.Produces}} {
		if f.val == "" {
			c.ps.add(CodeMissingField, p+"."+f.name, "a production step needs %q", f.name)
		}
	}
	if c.knownScope(p+".scope", s.Scope) && ctx.scope != "" && s.Scope != ctx.scope {
		c.ps.add(CodeScopeMismatch, p+".scope", "the step runs in scope %q here, not %q", ctx.scope, s.Scope)
	}
	if s.Role != "" && !c.res.prompts.hasRole(s.Role) {
		c.ps.add(CodeMissingRolePrompt, p+".role", "role %q has no role prompt in the prompt set (roles: %s)", s.Role, describeList(c.res.prompts.roleNames()))
	}
	if s.TaskPrompt != "" && !c.res.prompts.hasTask(s.TaskPrompt) {
		c.ps.add(CodeMissingTaskPrompt, p+".task_prompt", "task prompt %q is not in the prompt set (tasks: %s)", s.TaskPrompt, describeList(c.res.prompts.taskNames()))
	}
	for j, in := range s.Inputs {
		c.checkInput(in, index(p+".inputs", j), s.Scope, ctx)
	}
	if s.Produces == "" {
		return
	}
	dt, ok := c.wf.DocumentTypes[s.Produces]
	if !ok {
		c.ps.add(CodeUnknownDocumentType, p+".produces", "document type %q is not declared in document_types", s.Produces)
		return
	}
	if dt.Scope != s.Scope {
		c.ps.add(CodeScopeMismatch, p+".produces", "document type %q lives in scope %q, but the step runs in scope %q", s.Produces, dt.Scope, s.Scope)
	}
	if first, dup := c.producers[s.Produces]; dup {
		c.ps.add(CodeDuplicateProducer, p+".produces", "document type %q is already produced in scope %q by the step at %s", s.Produces, dt.Scope, first)
		return
	}
	c.producers[s.Produces] = p
}

func (c *checker) checkInput(in combine.InputRef, p, stepScope string, ctx stepCtx) {
	if (in.DocType == "") == (in.EntityType == "") {
		c.ps.add(CodeInvalidInput, p, "an input names exactly one of doc_type or entity_type")
		return
	}
	scopeOK := c.knownScope(p+".scope", in.Scope)
	if scopeOK && stepScope != "" && !c.isAncestorOrSelf(in.Scope, stepScope) {
		c.ps.add(CodeInputScope, p+".scope", "a step in scope %q may read only its own scope and its ancestors; %q is %s", stepScope, in.Scope, c.relation(in.Scope, stepScope))
		scopeOK = false
	}
	if in.DocType != "" {
		c.checkDocInput(in, p, scopeOK)
		return
	}
	et, ok := c.wf.EntityTypes[in.EntityType]
	if !ok {
		c.ps.add(CodeUnknownEntityType, p+".entity_type", "entity type %q is not declared in entity_types", in.EntityType)
		return
	}
	if in.Context && in.EntityType != ctx.iterEntity {
		c.ps.add(CodeInvalidContext, p+".context", "context: true names the item of the current iteration (%s), not %q", describeList(nonEmpty(ctx.iterEntity)), in.EntityType)
	}
	if et.CreatesScope == "" {
		c.ps.add(CodeInvalidInput, p+".entity_type", "entity type %q creates no scope, so it cannot be read as an item", in.EntityType)
		return
	}
	if scopeOK && et.CreatesScope != in.Scope {
		c.ps.add(CodeScopeMismatch, p+".scope", "an item of entity type %q is the context of scope %q, not %q", in.EntityType, et.CreatesScope, in.Scope)
	} else if scopeOK && ctx.iterations[in.Scope] != in.EntityType {
		c.ps.add(CodeInputScope, p+".entity_type", "the step is not inside an iteration over %q", in.EntityType)
	}
}

func (c *checker) checkDocInput(in combine.InputRef, p string, scopeOK bool) {
	dt, ok := c.wf.DocumentTypes[in.DocType]
	if !ok {
		c.ps.add(CodeUnknownDocumentType, p+".doc_type", "document type %q is not declared in document_types", in.DocType)
		return
	}
	if in.Context {
		c.ps.add(CodeInvalidContext, p+".context", "context: true applies only to the entity of the current iteration, not to a document")
	}
	if scopeOK && dt.Scope != in.Scope {
		c.ps.add(CodeScopeMismatch, p+".scope", "document type %q lives in scope %q, not %q", in.DocType, dt.Scope, in.Scope)
	}
	if _, produced := c.producers[in.DocType]; !produced && in.IsRequired() {
		c.ps.add(CodeInputNotAvailable, p+".doc_type", "required input %q is not produced by any earlier step", in.DocType)
	}
}

func (c *checker) checkIteration(s *combine.StepDef, p string, ctx stepCtx) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"role", s.Role != ""}, {"task_prompt", s.TaskPrompt != ""}, {"produces", s.Produces != ""}, {"inputs", s.Inputs != nil},
		{"worker", s.Worker != ""}, {"model", s.Model != ""},
	} {
		if f.set {
			c.ps.add(CodeInvalidStep, p+"."+f.name, "an iteration step takes no %q: its nested steps do the work", f.name)
		}
	}
	if len(s.Steps) == 0 {
		c.ps.add(CodeInvalidStep, p+".steps", "an iteration step needs nested steps")
	}
	it := s.Iterate
	scopeOK := c.knownScope(p+".scope", s.Scope)
	if scopeOK && ctx.scope != "" && c.parentOf(s.Scope) != ctx.scope {
		c.ps.add(CodeScopeMismatch, p+".scope", "an iteration here must open a child scope of %q; %q is not one", ctx.scope, s.Scope)
	}
	dt, dtOK := c.wf.DocumentTypes[it.DocType]
	if !dtOK {
		c.ps.add(CodeUnknownDocumentType, p+".iterate_over.doc_type", "document type %q is not declared in document_types", it.DocType)
	}
	et, etOK := c.wf.EntityTypes[it.EntityType]
	if !etOK {
		c.ps.add(CodeUnknownEntityType, p+".iterate_over.entity_type", "entity type %q is not declared in entity_types", it.EntityType)
	}
	if dtOK {
		if _, produced := c.producers[it.DocType]; !produced {
			c.ps.add(CodeBadIterationSource, p+".iterate_over.doc_type", "document type %q is not produced by any earlier step", it.DocType)
		} else if ctx.scope != "" && !c.isAncestorOrSelf(dt.Scope, ctx.scope) {
			c.ps.add(CodeBadIterationSource, p+".iterate_over.doc_type", "document type %q lives in scope %q, which is %s of %q", it.DocType, dt.Scope, c.relation(dt.Scope, ctx.scope), ctx.scope)
		}
		if dt.CollectionField != it.CollectionField {
			c.ps.add(CodeBadIterationSource, p+".iterate_over.collection_field", "document type %q has no collection_field %q (it declares %s)", it.DocType, it.CollectionField, describeList(nonEmpty(dt.CollectionField)))
		}
		if etOK && !slices.Contains(dt.MayOwn, it.EntityType) {
			c.ps.add(CodeBadIterationSource, p+".iterate_over.entity_type", "document type %q does not may_own entity type %q", it.DocType, it.EntityType)
		}
	}
	if etOK && scopeOK && et.CreatesScope != s.Scope {
		c.ps.add(CodeBadIterationSource, p+".scope", "entity type %q creates scope %s, but the iteration runs in scope %q", it.EntityType, describeList(nonEmpty(et.CreatesScope)), s.Scope)
	}
	inner := stepCtx{scope: s.Scope, iterEntity: it.EntityType, iterations: maps.Clone(ctx.iterations)}
	if !scopeOK {
		inner.scope = ""
	}
	inner.iterations[s.Scope] = it.EntityType
	c.walkSteps(s.Steps, p+".steps", inner)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// checkLLM checks the workflow's LLM settings: a model per role names a
// role that some production step plays (a typo would silently fall back
// to the default model).
func (c *checker) checkLLM() {
	if c.wf.LLM == nil {
		return
	}
	roles := map[string]bool{}
	var walk func(steps []combine.StepDef)
	walk = func(steps []combine.StepDef) {
		for _, s := range steps {
			roles[s.Role] = s.Role != "" || roles[s.Role]
			walk(s.Steps)
		}
	}
	walk(c.wf.Steps)
	for _, r := range sortedKeys(c.wf.LLM.RoleModels) {
		if !roles[r] {
			c.ps.add(CodeUnknownRole, field("$.llm.role_models", r), "no step plays role %q (roles: %s)", r, describeList(sortedKeys(trueKeys(roles))))
		}
	}
}

func trueKeys(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		if v {
			out[k] = true
		}
	}
	return out
}
