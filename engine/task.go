package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/thecombine/combine"
)

// scopesOf rebuilds the open scopes of a step instance from its ref.
func scopesOf(wf *combine.Workflow, e *execRow, ref combine.StepRef) map[string]string {
	scopes := map[string]string{rootScope(wf): e.ProjectID}
	for _, it := range ref.Items {
		scopes[it.ScopeType] = it.ScopeID
	}
	return scopes
}

// contextItem returns the iteration item a step instance is on, read from
// the latest accepted version of the iteration's source document.
func contextItem(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, ref combine.StepRef) (json.RawMessage, error) {
	if len(ref.Items) == 0 {
		return nil, nil
	}
	last := ref.Items[len(ref.Items)-1]
	it, _ := wf.FindStep(last.StepID)
	if it == nil || !it.IsIteration() {
		return nil, planErrorf("iteration step %q is not in workflow %s", last.StepID, wf.ID)
	}
	outer := combine.StepRef{Items: ref.Items[:len(ref.Items)-1]}
	items, err := iterationItems(ctx, q, wf, e, it, scopesOf(wf, e, outer))
	if err != nil {
		return nil, err
	}
	for _, raw := range items {
		if id, err := itemID(raw); err == nil && id == last.ItemID {
			return raw, nil
		}
	}
	return nil, planErrorf("item %q is no longer in the %s collection", last.ItemID, it.Iterate.DocType)
}

// buildTask assembles what the worker gets for an attempt: the step's
// definition, its inputs (latest accepted versions), the context item
// and the feedback of earlier attempts.
func (s *Service) buildTask(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt) (*combine.Task, error) {
	def, _ := wf.FindStep(run.Ref.StepID)
	if def == nil || def.IsIteration() {
		return nil, planErrorf("step %q is not a production step of workflow %s", run.Ref.StepID, wf.ID)
	}
	schema, err := s.wfs.DocumentSchema(ctx, wf.ID, def.Produces)
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", def.Produces, err)
	}
	item, err := contextItem(ctx, q, wf, e, run.Ref)
	if err != nil {
		return nil, err
	}
	prompts, err := s.wfs.StepPrompts(ctx, wf.ID, def.ID)
	if err != nil {
		return nil, fmt.Errorf("prompts of step %s: %w", def.ID, err)
	}
	t := &combine.Task{
		ExecutionID: e.ID, WorkflowID: wf.ID, WorkflowRevision: wf.Revision, ProjectID: e.ProjectID,
		ExecutionInputs: e.Inputs, Step: run.Ref, Role: def.Role, TaskPrompt: def.TaskPrompt,
		DocumentType: def.Produces, Schema: schema, ContextItem: item, Inputs: []combine.TaskInput{},
		Questions: a.Feedback.Questions, Answers: a.Feedback.Answers, Problems: a.Feedback.Problems,
		ReviewerComment: a.Feedback.ReviewerComment, IdempotencyKey: a.Key, Prompts: *prompts,
	}
	scopes := scopesOf(wf, e, run.Ref)
	for _, in := range def.Inputs {
		if in.DocType == "" {
			continue // entity inputs arrive as the context item
		}
		scopeType := in.Scope
		if scopeType == "" {
			scopeType = wf.DocumentTypes[in.DocType].Scope
		}
		scopeID, ok := scopes[scopeType]
		if !ok {
			return nil, planErrorf("input %s: scope %q is not open at %s", in.DocType, scopeType, run.Ref.Path)
		}
		d, err := latestAccepted(ctx, q, e.ProjectID, in.DocType, scopeType, scopeID)
		if combine.ErrorCode(err) == combine.ENOTFOUND {
			if in.IsRequired() {
				return nil, planErrorf("required input: %s", combine.ErrorMessage(err))
			}
			continue
		} else if err != nil {
			return nil, err
		}
		t.Inputs = append(t.Inputs, combine.TaskInput{
			DocumentType: d.DocumentType, ScopeType: d.ScopeType, ScopeID: d.ScopeID, DocumentID: d.ID,
			Version: d.Version, Title: d.Title, Content: d.Content,
		})
	}
	return t, nil
}

// qaProblems is the QA gate: the content must be a JSON object matching
// its type's schema, and a collection it owns must have usable item ids.
func (s *Service) qaProblems(ctx context.Context, wf *combine.Workflow, docType string, content json.RawMessage) ([]string, error) {
	var obj map[string]json.RawMessage
	if len(content) == 0 {
		return []string{"$: the document has no content"}, nil
	}
	if err := json.Unmarshal(content, &obj); err != nil || obj == nil {
		return []string{"$: the document must be a JSON object"}, nil
	}
	probs, err := s.wfs.ValidateDocument(ctx, wf.ID, docType, content)
	if err != nil {
		return nil, fmt.Errorf("validate %s: %w", docType, err)
	}
	var out []string
	for _, p := range probs {
		out = append(out, fmt.Sprintf("%s: %s", p.Path, p.Message))
	}
	out = append(out, collectionProblems(content, wf.DocumentTypes[docType].CollectionField)...)
	return out, nil
}

// questionProblems validates a clarification set: 1 to MaxQuestions
// questions with unique ids, text ending in "?", a reason and a priority.
func questionProblems(qs []combine.Question) []string {
	var out []string
	if len(qs) == 0 || len(qs) > combine.MaxQuestions {
		out = append(out, fmt.Sprintf("$.questions: a clarification set holds 1 to %d questions, got %d", combine.MaxQuestions, len(qs)))
	}
	seen := map[string]bool{}
	for i, q := range qs {
		at := fmt.Sprintf("$.questions[%d]", i)
		switch {
		case !itemIDPattern.MatchString(q.ID):
			out = append(out, at+".id: must be 1-64 letters, digits, '_', '.' or '-'")
		case seen[q.ID]:
			out = append(out, fmt.Sprintf("%s.id: duplicate id %q", at, q.ID))
		}
		seen[q.ID] = true
		if t := strings.TrimSpace(q.Text); t == "" || !strings.HasSuffix(t, "?") {
			out = append(out, at+".text: must be a question ending in \"?\"")
		}
		if strings.TrimSpace(q.Why) == "" {
			out = append(out, at+".why: must say why the answer matters")
		}
		if q.Priority != "must" && q.Priority != "should" && q.Priority != "could" {
			out = append(out, at+".priority: must be must, should or could")
		}
	}
	return out
}

// titleOf picks a document's title: the submitted one, the content's
// "title" field, or the document type's name.
func titleOf(wf *combine.Workflow, docType, title string, content json.RawMessage) string {
	if t := strings.TrimSpace(title); t != "" {
		return truncate(t, 200)
	}
	var v struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(content, &v) == nil && strings.TrimSpace(v.Title) != "" {
		return truncate(strings.TrimSpace(v.Title), 200)
	}
	if n := wf.DocumentTypes[docType].Name; n != "" {
		return n
	}
	return docType
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
