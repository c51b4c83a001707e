package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/thecombine/combine"
)

// instance is a production step at a concrete position: its definition,
// where it sits in the iterations, and the scope ids along the way.
type instance struct {
	def    *combine.StepDef
	ref    combine.StepRef
	scopes map[string]string // scope type → scope id
	// item is the iteration item the step is on (nil outside iterations).
	item json.RawMessage
}

// itemIDPattern is what an iteration item's id must look like: it becomes
// part of a scope id and of step paths.
var itemIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// rootScope returns the workflow's root scope name.
func rootScope(wf *combine.Workflow) string {
	for name, sc := range wf.Scopes {
		if sc.Parent == nil {
			return name
		}
	}
	return "project"
}

// nextStep walks the workflow in order and returns the first production
// step instance not yet completed, expanding iterations over the latest
// accepted version of their source document. nil means every step is done.
func nextStep(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, done map[string]bool) (*instance, error) {
	scopes := map[string]string{rootScope(wf): e.ProjectID}
	return walk(ctx, q, wf, e, done, wf.Steps, "", scopes, nil, nil)
}

func walk(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, done map[string]bool,
	steps []combine.StepDef, prefix string, scopes map[string]string, items []combine.IterationItem, item json.RawMessage) (*instance, error) {
	for i := range steps {
		s := &steps[i]
		if !s.IsIteration() {
			path := prefix + s.ID
			if done[path] {
				continue
			}
			dt := wf.DocumentTypes[s.Produces]
			scopeType := dt.Scope
			if scopeType == "" {
				scopeType = s.Scope
			}
			scopeID, ok := scopes[scopeType]
			if !ok {
				return nil, planErrorf("step %s: scope %q is not open at %q", s.ID, scopeType, path)
			}
			return &instance{def: s, scopes: scopes, item: item, ref: combine.StepRef{
				StepID: s.ID, Path: path, ScopeType: scopeType, ScopeID: scopeID, Items: items,
			}}, nil
		}
		collection, err := iterationItems(ctx, q, wf, e, s, scopes)
		if err != nil {
			return nil, err
		}
		et := wf.EntityTypes[s.Iterate.EntityType]
		itemScope := et.CreatesScope
		if itemScope == "" {
			itemScope = s.Scope
		}
		for _, raw := range collection {
			id, err := itemID(raw)
			if err != nil {
				return nil, planErrorf("step %s: %w", s.ID, err)
			}
			scopeID := itemScope + ":" + id
			if len(items) > 0 {
				scopeID = items[len(items)-1].ScopeID + "/" + scopeID
			}
			inner := make(map[string]string, len(scopes)+1)
			for k, v := range scopes {
				inner[k] = v
			}
			inner[itemScope] = scopeID
			chain := append(items[:len(items):len(items)], combine.IterationItem{
				StepID: s.ID, EntityType: s.Iterate.EntityType, ItemID: id, ScopeType: itemScope, ScopeID: scopeID,
			})
			next, err := walk(ctx, q, wf, e, done, s.Steps, prefix+s.ID+"["+id+"]/", inner, chain, raw)
			if err != nil || next != nil {
				return next, err
			}
		}
	}
	return nil, nil
}

// iterationItems reads the collection an iteration step expands over.
func iterationItems(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, s *combine.StepDef, scopes map[string]string) ([]json.RawMessage, error) {
	dt, ok := wf.DocumentTypes[s.Iterate.DocType]
	if !ok {
		return nil, planErrorf("step %s iterates over unknown document type %q", s.ID, s.Iterate.DocType)
	}
	scopeID, ok := scopes[dt.Scope]
	if !ok {
		return nil, planErrorf("step %s: scope %q of %s is not open", s.ID, dt.Scope, s.Iterate.DocType)
	}
	doc, err := latestAccepted(ctx, q, e.ProjectID, s.Iterate.DocType, dt.Scope, scopeID)
	if combine.ErrorCode(err) == combine.ENOTFOUND {
		return nil, planErrorf("step %s: %s", s.ID, combine.ErrorMessage(err))
	} else if err != nil {
		return nil, err
	}
	items, err := collectionOf(doc.Content, s.Iterate.CollectionField)
	if err != nil {
		return nil, planErrorf("step %s: %w", s.ID, err)
	}
	return items, nil
}

// collectionOf returns the array in field of a document's content.
func collectionOf(content json.RawMessage, field string) ([]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(content, &obj); err != nil {
		return nil, fmt.Errorf("document is not a JSON object: %w", err)
	}
	raw, ok := obj[field]
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("field %q is not an array", field)
	}
	return items, nil
}

func itemID(raw json.RawMessage) (string, error) {
	var v struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ID == nil {
		return "", fmt.Errorf("collection item has no string \"id\"")
	}
	if !itemIDPattern.MatchString(*v.ID) {
		return "", fmt.Errorf("collection item id %q must match %s", *v.ID, itemIDPattern)
	}
	return *v.ID, nil
}

// collectionProblems checks what the iteration needs from a document
// whose type owns a collection: every item has a well-formed, unique id.
func collectionProblems(content json.RawMessage, field string) []string {
	if field == "" {
		return nil
	}
	items, err := collectionOf(content, field)
	if err != nil {
		return []string{fmt.Sprintf("$.%s: %v", field, err)}
	}
	var probs []string
	seen := map[string]bool{}
	for i, raw := range items {
		id, err := itemID(raw)
		if err != nil {
			probs = append(probs, fmt.Sprintf("$.%s[%d]: %v", field, i, err))
			continue
		}
		if seen[id] {
			probs = append(probs, fmt.Sprintf("$.%s[%d]: duplicate id %q", field, i, id))
		}
		seen[id] = true
	}
	return probs
}

func planErrorf(format string, args ...any) error {
	return &planError{fmt.Errorf(format, args...)}
}
