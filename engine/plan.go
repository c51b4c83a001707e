package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/thecombine/combine"
)

// planError is a problem with the workflow or the documents that makes
// the next step impossible to work out: the execution fails with it.
type planError struct{ err error }

func (p *planError) Error() string { return p.err.Error() }
func (p *planError) Unwrap() error { return p.err }

func planErrorf(format string, args ...any) error {
	return &planError{fmt.Errorf(format, args...)}
}

// instance is a production step at a concrete position: its definition
// and where it sits in the iterations.
type instance struct {
	def *combine.StepDef
	ref combine.StepRef
}

// rootScope returns the workflow's root scope name.
func rootScope(wf *combine.Workflow) string {
	for name, sc := range wf.Scopes {
		if sc.Parent == nil {
			return name
		}
	}
	return "project"
}

// frontier walks the workflow and returns the production step instances
// that may start now — in workflow order, each the first step of its
// sequence not yet started while every earlier step of that sequence is
// completed — and whether every step is completed. runs maps the step
// paths started so far to their status. The items of an iteration are
// independent sequences; the iteration is done when all of them are.
// Iterations expand over the latest accepted version of their source
// document produced in this execution.
func frontier(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, runs map[string]string) ([]*instance, bool, error) {
	w := &walker{ctx: ctx, q: q, wf: wf, e: e, runs: runs}
	done, err := w.seq(wf.Steps, "", map[string]string{rootScope(wf): e.ProjectID}, nil)
	return w.start, done, err
}

type walker struct {
	ctx   context.Context
	q     querier
	wf    *combine.Workflow
	e     *execRow
	runs  map[string]string
	start []*instance
}

// seq walks one sequence of steps and reports whether all are completed.
func (w *walker) seq(steps []combine.StepDef, prefix string, scopes map[string]string, items []combine.IterationItem) (bool, error) {
	for i := range steps {
		s := &steps[i]
		if !s.IsIteration() {
			path := prefix + s.ID
			switch w.runs[path] {
			case runCompleted:
				continue
			case "":
				scopeType := w.wf.DocumentTypes[s.Produces].Scope
				if scopeType == "" {
					scopeType = s.Scope
				}
				scopeID, ok := scopes[scopeType]
				if !ok {
					return false, planErrorf("step %s: scope %q is not open at %q", s.ID, scopeType, path)
				}
				w.start = append(w.start, &instance{def: s, ref: combine.StepRef{
					StepID: s.ID, Path: path, ScopeType: scopeType, ScopeID: scopeID, Items: items,
				}})
			}
			return false, nil
		}
		_, collection, err := iterationSource(w.ctx, w.q, w.wf, w.e, s, scopes)
		if err != nil {
			return false, err
		}
		itemScope := w.wf.EntityTypes[s.Iterate.EntityType].CreatesScope
		if itemScope == "" {
			itemScope = s.Scope
		}
		all := true
		for _, raw := range collection {
			id, err := combine.ItemID(raw, s.Iterate.EntityType)
			if err != nil {
				return false, planErrorf("step %s: %w", s.ID, err)
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
			done, err := w.seq(s.Steps, prefix+s.ID+"["+id+"]/", inner, chain)
			if err != nil {
				return false, err
			}
			all = all && done
		}
		if !all {
			return false, nil
		}
	}
	return true, nil
}

// iterationSource reads the document an iteration step expands over (the
// execution's latest accepted version in the enclosing scope) and its
// collection.
func iterationSource(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, s *combine.StepDef, scopes map[string]string) (*combine.Document, []json.RawMessage, error) {
	dt, ok := wf.DocumentTypes[s.Iterate.DocType]
	if !ok {
		return nil, nil, planErrorf("step %s iterates over unknown document type %q", s.ID, s.Iterate.DocType)
	}
	scopeID, ok := scopes[dt.Scope]
	if !ok {
		return nil, nil, planErrorf("step %s: scope %q of %s is not open", s.ID, dt.Scope, s.Iterate.DocType)
	}
	doc, err := latestAccepted(ctx, q, e.ID, s.Iterate.DocType, dt.Scope, scopeID)
	if combine.ErrorCode(err) == combine.ENOTFOUND {
		return nil, nil, planErrorf("step %s: %s", s.ID, combine.ErrorMessage(err))
	} else if err != nil {
		return nil, nil, err
	}
	items, err := combine.CollectionItems(doc.Content, s.Iterate.CollectionField)
	if err != nil {
		return nil, nil, planErrorf("step %s: %w", s.ID, err)
	}
	return doc, items, nil
}

// scopesOf rebuilds the open scopes of a step instance from its ref.
func scopesOf(wf *combine.Workflow, e *execRow, ref combine.StepRef) map[string]string {
	scopes := map[string]string{rootScope(wf): e.ProjectID}
	for _, it := range ref.Items {
		scopes[it.ScopeType] = it.ScopeID
	}
	return scopes
}

// itemAt returns the iteration item at level of ref (0 is the outermost)
// and the document version it is read from.
func itemAt(ctx context.Context, q querier, wf *combine.Workflow, e *execRow, ref combine.StepRef, level int) (*combine.Document, json.RawMessage, error) {
	it := ref.Items[level]
	step, _ := wf.FindStep(it.StepID)
	if step == nil || !step.IsIteration() {
		return nil, nil, planErrorf("iteration step %q is not in workflow %s", it.StepID, wf.ID)
	}
	doc, items, err := iterationSource(ctx, q, wf, e, step, scopesOf(wf, e, combine.StepRef{Items: ref.Items[:level]}))
	if err != nil {
		return nil, nil, err
	}
	for _, raw := range items {
		if id, err := combine.ItemID(raw, it.EntityType); err == nil && id == it.ItemID {
			return doc, raw, nil
		}
	}
	return nil, nil, planErrorf("item %q is no longer in the %s collection", it.ItemID, step.Iterate.DocType)
}
