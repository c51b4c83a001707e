package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

// The execution page's forms post here. Each names its work item (step
// path and attempt, and for a decision the document version), so a stale
// page or a double click is refused by the engine as a conflict and
// changes nothing. A refused document comes back on the page with its
// problems beside the fields; success redirects to the execution.

// openItem finds the open work item a form names, or the conflict error
// a stale form gets.
func (ui *UI) openItem(r *http.Request, kind string) (*combine.Execution, *combine.WorkItem, error) {
	e, err := ui.srv.Engine.Executions.FindExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	path := r.PostForm.Get("step_path")
	attempt, _ := strconv.Atoi(r.PostForm.Get("attempt"))
	for _, it := range e.Pending {
		if it.StepPath == path && it.Attempt == attempt && it.Kind == kind {
			return e, it, nil
		}
	}
	return nil, nil, combine.Errorf(combine.ECONFLICT,
		"this work item (%s, attempt %d) is not waiting for this any more: someone may have acted on it, or the page is out of date. Nothing was changed.", path, attempt)
}

// editorInput reads a posted editor: the document, and whether the person
// used the raw JSON tab (with its text). A raw text that is not JSON is
// returned as an error message for the page.
func editorInput(r *http.Request, sch *schemaNode, keepEmpty bool) (doc any, raw bool, rawText string, msg string) {
	if r.PostForm.Get("editor") == "raw" {
		rawText = strings.ReplaceAll(r.PostForm.Get("raw"), "\r\n", "\n")
		v, err := decodeDoc([]byte(rawText))
		if err != nil {
			return nil, true, rawText, "The JSON is not valid: " + err.Error()
		}
		return v, true, rawText, ""
	}
	return readForm(sch, r.PostForm, keepEmpty), false, "", ""
}

// editorOp handles an editor operation posted without the script (add or
// remove a row, switch between the form and JSON): the page comes back
// with the editor changed and nothing submitted. ok is false when the
// post is not an operation.
func editorOp(r *http.Request, sch *schemaNode, st *itemState) bool {
	op := r.PostForm.Get("op")
	if op == "" {
		return false
	}
	doc, raw, rawText, msg := editorInput(r, sch, true)
	st.title = r.PostForm.Get("title")
	switch {
	case msg != "":
		st.raw, st.rawText, st.err = true, rawText, msg
	case op == "raw":
		st.doc, st.raw = pruneDoc(sch, r), true
	case op == "form":
		st.doc = doc
	case raw:
		st.doc, st.raw, st.rawText = doc, true, rawText
	default:
		st.doc = applyOp(doc, op)
	}
	return true
}

// pruneDoc is the form's document as it would be submitted.
func pruneDoc(sch *schemaNode, r *http.Request) any {
	return readForm(sch, r.PostForm, false)
}

// handleSubmit delivers the document of an input work item.
func (ui *UI) handleSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	e, it, err := ui.openItem(r, combine.WorkInput)
	if err != nil {
		return err
	}
	sch, err := parseSchema(it.Schema)
	if err != nil {
		return err
	}
	st := &itemState{anchor: itemAnchor(it)}
	if editorOp(r, sch, st) {
		return ui.renderExecution(w, r, http.StatusOK, e.ID, st)
	}
	doc, raw, rawText, msg := editorInput(r, sch, false)
	st.raw, st.rawText, st.title = raw, rawText, r.PostForm.Get("title")
	if msg != "" {
		st.err = msg
		return ui.renderExecution(w, r, http.StatusBadRequest, e.ID, st)
	}
	content, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = ui.srv.Engine.Executions.SubmitDocument(r.Context(), e.ID, combine.Submission{
		StepPath: it.StepPath, Attempt: it.Attempt, Title: strings.TrimSpace(st.title), Content: content,
	})
	if err != nil {
		return ui.refused(w, r, e.ID, st, doc, err)
	}
	return ui.redirect(w, r, executionURL(e.ID, ""), "submitted")
}

// refused shows the execution again after the engine refused a document
// (QA problems, a bad field): what was sent stays in the editor, with the
// problems beside the fields they name. Other errors are error pages.
func (ui *UI) refused(w http.ResponseWriter, r *http.Request, id string, st *itemState, doc any, err error) error {
	var ce *combine.Error
	if !errors.As(err, &ce) || ce.Code != combine.EINVALID {
		return err
	}
	st.err, st.doc = ce.Message, doc
	st.problems = []string{}
	if ps, ok := ce.Details["problems"].([]string); ok {
		st.problems = ps
	}
	if _, ferr := ui.settled(r, id, st.anchor); ferr != nil {
		return ferr
	}
	return ui.renderExecution(w, r, http.StatusUnprocessableEntity, id, st)
}

// settleWait bounds how long a refused post waits for the engine to
// re-open the work item (a worker takes the new attempt first; the
// person worker hands it back at once).
const settleWait = 3 * time.Second

// settled returns the execution once the work item at anchor is waiting
// for a person again (or the execution ended, or settleWait passed), so
// the page can show the refused document in the new attempt's form.
func (ui *UI) settled(r *http.Request, id, anchor string) (*combine.Execution, error) {
	deadline := time.NewTimer(settleWait)
	defer deadline.Stop()
	for {
		var wake <-chan struct{}
		if ui.srv.Engine.EventWaker != nil {
			ch, cancel := ui.srv.Engine.EventWaker.Subscribe(id)
			defer cancel()
			wake = ch
		}
		e, err := ui.srv.Engine.Executions.FindExecution(r.Context(), id)
		if err != nil || e.Status.Terminal() {
			return e, err
		}
		for _, it := range e.Pending {
			if itemAnchor(it) == anchor {
				return e, nil
			}
		}
		poll := time.NewTimer(100 * time.Millisecond)
		select {
		case <-wake:
		case <-poll.C:
		case <-deadline.C:
			poll.Stop()
			return e, nil
		case <-r.Context().Done():
			poll.Stop()
			return nil, r.Context().Err()
		}
		poll.Stop()
	}
}

// handleAnswer answers a clarification work item's questions.
func (ui *UI) handleAnswer(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	e, it, err := ui.openItem(r, combine.WorkClarification)
	if err != nil {
		return err
	}
	answers := map[string]string{}
	for _, q := range it.Questions {
		if s := strings.TrimSpace(textValue(r.PostForm, "answer/"+q.ID)); s != "" {
			answers[q.ID] = s
		}
	}
	_, err = ui.srv.Engine.Executions.AnswerClarification(r.Context(), e.ID, combine.Answers{
		StepPath: it.StepPath, Attempt: it.Attempt, Answers: answers,
	})
	if combine.ErrorCode(err) == combine.EINVALID {
		st := &itemState{anchor: itemAnchor(it), answers: answers, err: combine.ErrorMessage(err)}
		return ui.renderExecution(w, r, http.StatusUnprocessableEntity, e.ID, st)
	} else if err != nil {
		return err
	}
	return ui.redirect(w, r, executionURL(e.ID, ""), "answered")
}

// handleDecide accepts or rejects the document an acceptance work item
// waits on, or accepts the reviewer's corrected version of it.
func (ui *UI) handleDecide(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	e, it, err := ui.openItem(r, combine.WorkAcceptance)
	if err != nil {
		return err
	}
	version, _ := strconv.Atoi(r.PostForm.Get("version"))
	d := combine.Decision{StepPath: it.StepPath, Attempt: it.Attempt, DocumentID: r.PostForm.Get("document_id"), Version: version,
		Comment: strings.TrimSpace(textValue(r.PostForm, "comment"))}
	st := &itemState{anchor: itemAnchor(it), comment: d.Comment}
	var doc any
	flash := "accepted"
	switch r.PostForm.Get("decision") {
	case "accept":
		d.Accepted = true
	case "reject":
		flash = "rejected"
	case "accept_edits":
		st.edit = true
		raw, err := ui.srv.Engine.Workflows.DocumentSchema(r.Context(), e.WorkflowID, it.DocumentType)
		if err != nil {
			return err
		}
		sch, err := parseSchema(raw)
		if err != nil {
			return err
		}
		if editorOp(r, sch, st) {
			return ui.renderExecution(w, r, http.StatusOK, e.ID, st)
		}
		var msg string
		doc, st.raw, st.rawText, msg = editorInput(r, sch, false)
		if msg != "" {
			st.err = msg
			return ui.renderExecution(w, r, http.StatusBadRequest, e.ID, st)
		}
		if d.Content, err = json.Marshal(doc); err != nil {
			return err
		}
		d.Accepted, d.Title, flash = true, strings.TrimSpace(r.PostForm.Get("title")), "accepted_edits"
	default:
		return combine.Errorf(combine.EINVALID, "choose accept or reject")
	}
	if _, err := ui.srv.Engine.Executions.DecideAcceptance(r.Context(), e.ID, d); err != nil {
		if doc == nil && combine.ErrorCode(err) == combine.EINVALID {
			st.err = combine.ErrorMessage(err)
			return ui.renderExecution(w, r, http.StatusUnprocessableEntity, e.ID, st)
		}
		return ui.refused(w, r, e.ID, st, doc, err)
	}
	return ui.redirect(w, r, executionURL(e.ID, ""), flash)
}

// handleRetry re-opens a failed execution's failed work item.
func (ui *UI) handleRetry(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := ui.srv.Engine.Executions.RetryExecution(r.Context(), id, strings.TrimSpace(r.PostForm.Get("comment"))); err != nil {
		return err
	}
	return ui.redirect(w, r, executionURL(id, ""), "retried")
}

// handleCancel stops an execution at once.
func (ui *UI) handleCancel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := ui.srv.Engine.Executions.CancelExecution(r.Context(), id); err != nil {
		return err
	}
	return ui.redirect(w, r, executionURL(id, ""), "cancelled")
}

// executionURL is an execution page's address, optionally at an anchor.
func executionURL(id, anchor string) string {
	u := "/executions/" + url.PathEscape(id)
	if anchor != "" {
		u += "#" + anchor
	}
	return u
}
