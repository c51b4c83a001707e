package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/thecombine/combine"
)

// seedKey is the member of an execution's inputs that seeds documents.
const seedKey = "documents"

// seeds checks the documents seeded in an execution's inputs — a JSON
// object {"<document type>": {"title"?, "content": {…}}} — and returns
// them ready to store, in type order. Only types of the root scope may be
// seeded; each must pass its type's QA gate. A seeded type's producing
// step takes the seed as its document (so acceptance still applies); a
// type that no step produces is a plain input and needs none.
func (s *Service) seeds(ctx context.Context, wf *combine.Workflow, e *execRow, raw json.RawMessage) ([]*combine.Document, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var byType map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byType); err != nil || byType == nil {
		return nil, combine.Errorf(combine.EINVALID, `inputs.documents must be an object: {"<document type>": {"title"?, "content": {…}}}`)
	}
	root := rootScope(wf)
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	slices.Sort(types)
	var out []*combine.Document
	for _, t := range types {
		dt, ok := wf.DocumentTypes[t]
		if !ok {
			return nil, combine.Errorf(combine.EINVALID, "inputs.documents: workflow %s has no document type %q", wf.ID, t)
		}
		if dt.Scope != root {
			return nil, combine.Errorf(combine.EINVALID, "inputs.documents.%s: only documents of the %s scope can be seeded", t, root)
		}
		var seed struct {
			Title   string          `json:"title"`
			Content json.RawMessage `json:"content"`
		}
		dec := json.NewDecoder(strings.NewReader(string(byType[t])))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&seed); err != nil {
			return nil, combine.Errorf(combine.EINVALID, `inputs.documents.%s must be {"title"?, "content": {…}}`, t)
		}
		if err := checkDocument(seed.Content); err != nil {
			return nil, combine.Errorf(combine.EINVALID, "inputs.documents.%s: %s", t, combine.ErrorMessage(err))
		}
		probs, err := s.qaProblems(ctx, wf, t, seed.Content)
		if err != nil {
			return nil, err
		}
		if len(probs) > 0 {
			return nil, &combine.Error{Code: combine.EINVALID,
				Message: fmt.Sprintf("inputs.documents.%s does not pass QA (%d problems)", t, len(probs)),
				Details: map[string]any{"problems": probs, "document_type": t}}
		}
		d := &combine.Document{
			ID: newID("doc"), ProjectID: e.ProjectID, DocumentType: t, ScopeType: root, ScopeID: e.ProjectID,
			Title: titleOf(wf, t, seed.Title, seed.Content), Content: seed.Content, CreatedBy: "user:" + e.CreatedBy,
			ExecutionID: e.ID, Acceptance: combine.AcceptanceState{Status: combine.AcceptanceNotRequired},
		}
		if step := producer(wf.Steps, t); step != nil {
			d.StepID, d.StepPath = step.ID, step.ID
			if dt.AcceptanceRequired {
				d.Acceptance.Status = combine.AcceptancePending
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// hasSeeds reports whether an execution's inputs seed documents.
func hasSeeds(inputs json.RawMessage) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal(inputs, &obj) == nil && len(obj[seedKey]) > 0
}

// producer returns the top-level production step producing docType.
func producer(steps []combine.StepDef, docType string) *combine.StepDef {
	for i := range steps {
		if !steps[i].IsIteration() && steps[i].Produces == docType {
			return &steps[i]
		}
	}
	return nil
}

// seededDocument returns the document seeded for the step at path in
// execution executionID, or nil.
func seededDocument(ctx context.Context, q querier, executionID, path string) (*combine.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents
		WHERE execution_id = $1 AND step_path = $2 AND attempt = 0`, executionID, path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("find seeded document: %w", err)
	}
	return d, nil
}
