package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/thecombine/combine"
)

// resolveInputs works out exactly which document versions (and items) a
// new attempt of a step instance reads: for each input, the latest
// accepted version produced in this execution in the input's scope; for
// an entity input, the item of the enclosing iteration with that entity
// type (the step's own context item or an ancestor's, such as the epic
// from a story step), taken from the version the iteration expanded.
// A missing required input is a planError.
func resolveInputs(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, def *combine.StepDef, ref combine.StepRef) ([]combine.InputRead, error) {
	scopes := scopesOf(wf, e, ref)
	out := []combine.InputRead{}
	for _, in := range def.Inputs {
		if in.EntityType != "" {
			level := -1
			for i, it := range ref.Items {
				if it.EntityType == in.EntityType {
					level = i
				}
			}
			if level < 0 {
				if in.IsRequired() {
					return nil, planErrorf("input %s: no enclosing iteration over %s at %s", in.EntityType, in.EntityType, ref.Path)
				}
				continue
			}
			doc, _, err := itemAt(ctx, q, wf, e, ref, level)
			if err != nil {
				return nil, err
			}
			out = append(out, combine.InputRead{
				DocumentID: doc.ID, DocumentType: doc.DocumentType, ScopeType: doc.ScopeType, ScopeID: doc.ScopeID,
				Version: doc.Version, EntityType: in.EntityType, ItemID: ref.Items[level].ItemID,
			})
			continue
		}
		scopeType := in.Scope
		if scopeType == "" {
			scopeType = wf.DocumentTypes[in.DocType].Scope
		}
		scopeID, ok := scopes[scopeType]
		if !ok {
			return nil, planErrorf("input %s: scope %q is not open at %s", in.DocType, scopeType, ref.Path)
		}
		d, err := latestAccepted(ctx, q, e.ID, in.DocType, scopeType, scopeID)
		if combine.ErrorCode(err) == combine.ENOTFOUND {
			if in.IsRequired() {
				return nil, planErrorf("required input: %s", combine.ErrorMessage(err))
			}
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, combine.InputRead{
			DocumentID: d.ID, DocumentType: d.DocumentType, ScopeType: d.ScopeType, ScopeID: d.ScopeID, Version: d.Version,
		})
	}
	return out, nil
}

// buildTask assembles what the worker gets for an attempt: the step's
// definition, the inputs the attempt recorded (documents and items),
// the context item and the feedback of earlier attempts.
func (s *Service) buildTask(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, run *stepRun, a *attempt) (*combine.Task, error) {
	def, _ := wf.FindStep(run.Ref.StepID)
	if def == nil || def.IsIteration() {
		return nil, planErrorf("step %q is not a production step of workflow %s", run.Ref.StepID, wf.ID)
	}
	schema, err := s.wfs.DocumentSchema(ctx, wf.ID, def.Produces)
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", def.Produces, err)
	}
	prompts, err := s.wfs.StepPrompts(ctx, wf.ID, def.ID)
	if err != nil {
		return nil, fmt.Errorf("prompts of step %s: %w", def.ID, err)
	}
	ref := run.Ref
	ref.Attempt = a.Number
	t := &combine.Task{
		ExecutionID: e.ID, WorkflowID: wf.ID, WorkflowRevision: wf.Revision, ProjectID: e.ProjectID,
		ExecutionInputs: workerInputs(e.Inputs), Step: ref, Role: def.Role, TaskPrompt: def.TaskPrompt,
		DocumentType: def.Produces, Schema: schema, Inputs: []combine.TaskInput{},
		Questions: a.Feedback.Questions, Answers: a.Feedback.Answers, Problems: a.Feedback.Problems,
		ReviewerComment: a.Feedback.ReviewerComment, RetryComment: a.Feedback.RetryComment,
		IdempotencyKey: a.Key, Prompts: *prompts, Model: wf.StepModel(def), BudgetUSD: wf.BudgetUSD(),
	}
	if n := len(ref.Items); n > 0 {
		if _, t.ContextItem, err = itemAt(ctx, q, wf, e, ref, n-1); err != nil {
			return nil, err
		}
	}
	for _, in := range a.Inputs {
		d, err := findDocument(ctx, q, in.DocumentID)
		if err != nil {
			return nil, err
		}
		ti := combine.TaskInput{
			DocumentType: d.DocumentType, ScopeType: d.ScopeType, ScopeID: d.ScopeID, DocumentID: d.ID,
			Version: d.Version, Title: d.Title, Content: d.Content,
		}
		if in.EntityType != "" {
			ti.EntityType, ti.ItemID = in.EntityType, in.ItemID
			if ti.Content, err = itemOf(d, wf, in.EntityType, in.ItemID); err != nil {
				return nil, err
			}
		}
		t.Inputs = append(t.Inputs, ti)
	}
	return t, nil
}

// itemOf returns the item with id of the collection of entityType in d.
func itemOf(d *combine.Document, wf *combine.Workflow, entityType, id string) (json.RawMessage, error) {
	items, err := combine.CollectionItems(d.Content, wf.DocumentTypes[d.DocumentType].CollectionField)
	if err != nil {
		return nil, planErrorf("%s %s: %w", d.DocumentType, d.ID, err)
	}
	for _, raw := range items {
		if got, err := combine.ItemID(raw, entityType); err == nil && got == id {
			return raw, nil
		}
	}
	return nil, planErrorf("%s %q is not in %s version %d", entityType, id, d.DocumentType, d.Version)
}

// workerInputs returns the execution's inputs as workers get them: the
// seeded documents are delivered as documents, not repeated here.
func workerInputs(inputs json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(inputs, &obj) != nil {
		return inputs
	}
	if _, ok := obj[seedKey]; !ok {
		return inputs
	}
	delete(obj, seedKey)
	b, err := json.Marshal(obj)
	if err != nil {
		return inputs
	}
	return b
}

// qaProblems is the QA gate: the content must be a JSON object matching
// its type's schema, with usable item ids in a collection it owns (the
// workflow registry checks both).
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
	return problemTexts(probs), nil
}

// questionProblems validates a clarification set with the workflow
// registry's clarification contract (clarification_questions.v1).
func (s *Service) questionProblems(qs []combine.Question) []string {
	b, err := json.Marshal(map[string]any{"questions": qs})
	if err != nil {
		return []string{"$: the clarification set cannot be encoded"}
	}
	return problemTexts(s.wfs.ValidateClarification(b))
}

func problemTexts(ps []combine.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s: %s", p.Path, p.Message))
	}
	return out
}

// maxTitle is the longest document title, in characters.
const maxTitle = 200

// titleOf picks a document's title: the submitted one, the content's
// "title" field, or the document type's name; at most maxTitle
// characters, cut on a character boundary.
func titleOf(wf *combine.Workflow, docType, title string, content json.RawMessage) string {
	if t := strings.TrimSpace(title); t != "" {
		return truncate(t, maxTitle)
	}
	var v struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(content, &v) == nil && strings.TrimSpace(v.Title) != "" {
		return truncate(strings.TrimSpace(v.Title), maxTitle)
	}
	if n := wf.DocumentTypes[docType].Name; n != "" {
		return n
	}
	return docType
}

// truncate cuts s to at most n characters (code points), never inside one.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
