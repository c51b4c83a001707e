package web

import (
	"net/http"
	"strconv"

	"github.com/thecombine/combine"
)

type documentView struct {
	Doc      *combine.Document
	TypeName string
	Versions []*combine.Document
	Body     *docNode
	// Prev is the version before this one (0 when none), for the diff link.
	Prev int
}

type diffView struct {
	Doc      *combine.Document
	TypeName string
	From, To *combine.Document
	Versions []*combine.Document
	Rows     []diffRow
	Changes  int
}

// documentAt returns the versions of a document (newest first) and the
// one ?version=N names (the document itself when absent).
func (ui *UI) documentAt(r *http.Request, param string) (*combine.Document, []*combine.Document, error) {
	ctx := r.Context()
	doc, err := ui.srv.Engine.Documents.FindDocument(ctx, r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	versions, err := ui.srv.Engine.Documents.DocumentVersions(ctx, doc.ID)
	if err != nil {
		return nil, nil, err
	}
	s := r.URL.Query().Get(param)
	if s == "" {
		return doc, versions, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return nil, nil, combine.Errorf(combine.EINVALID, "%s must be a version number (1, 2, …)", param)
	}
	for _, v := range versions {
		if v.Version == n {
			return v, versions, nil
		}
	}
	return nil, nil, combine.Errorf(combine.ENOTFOUND, "this document has no version %d", n)
}

// schemaOf is the parsed schema of a document's type (nil without one).
func (ui *UI) schemaOf(r *http.Request, wfID, docType string) *schemaNode {
	raw, err := ui.srv.Engine.Workflows.DocumentSchema(r.Context(), wfID, docType)
	if err != nil || len(raw) == 0 {
		return nil
	}
	n, err := parseSchema(raw)
	if err != nil {
		return nil
	}
	return n
}

// typeName is a document type's name in the workflow of its execution.
func (ui *UI) typeName(r *http.Request, d *combine.Document) (string, string) {
	e, err := ui.srv.Engine.Executions.FindExecution(r.Context(), d.ExecutionID)
	if err != nil {
		return humanize(d.DocumentType), ""
	}
	wf, _ := ui.srv.Engine.Workflows.FindWorkflow(r.Context(), e.WorkflowID)
	return docTypeName(wf, d.DocumentType), e.WorkflowID
}

// handleDocument renders a document version as a readable page, with
// its version history.
func (ui *UI) handleDocument(w http.ResponseWriter, r *http.Request) error {
	doc, versions, err := ui.documentAt(r, "version")
	if err != nil {
		return err
	}
	name, wfID := ui.typeName(r, doc)
	content, err := decodeDoc(doc.Content)
	if err != nil {
		return err
	}
	v := documentView{Doc: doc, TypeName: name, Versions: versions,
		Body: renderDoc(ui.schemaOf(r, wfID, doc.DocumentType), content, "", 1)}
	for _, o := range versions {
		if o.Version < doc.Version && o.Version > v.Prev {
			v.Prev = o.Version
		}
	}
	return ui.render(w, r, http.StatusOK, "document", page{Title: doc.Title, Nav: "executions", Data: v})
}

// handleDiff compares two versions side by side: ?from=N&to=M (default:
// the previous version and this one).
func (ui *UI) handleDiff(w http.ResponseWriter, r *http.Request) error {
	to, versions, err := ui.documentAt(r, "to")
	if err != nil {
		return err
	}
	from, _, err := ui.documentAt(r, "from")
	if err != nil {
		return err
	}
	if r.URL.Query().Get("from") == "" {
		for _, o := range versions {
			if o.Version < to.Version && (from == to || o.Version > from.Version) {
				from = o
			}
		}
	}
	name, wfID := ui.typeName(r, to)
	sch := ui.schemaOf(r, wfID, to.DocumentType)
	a, err := decodeDoc(from.Content)
	if err != nil {
		return err
	}
	b, err := decodeDoc(to.Content)
	if err != nil {
		return err
	}
	var la, lb []leaf
	flatten(sch, a, "$", "", &la)
	flatten(sch, b, "$", "", &lb)
	v := diffView{Doc: to, TypeName: name, From: from, To: to, Versions: versions, Rows: diffLeaves(la, lb)}
	for _, row := range v.Rows {
		if row.Op != "same" {
			v.Changes++
		}
	}
	return ui.render(w, r, http.StatusOK, "diff", page{Title: "Changes in " + to.Title, Nav: "executions", Data: v})
}
