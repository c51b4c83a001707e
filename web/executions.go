package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

type executionsView struct {
	List       []*combine.Execution
	Names      map[string]string
	Workflows  []*combine.Workflow
	Statuses   []combine.ExecutionStatus
	WorkflowID string
	Status     string
	ProjectID  string
	Total      int
	Offset     int
	Prev, Next string
}

const executionsPage = 25

// handleExecutions lists executions, newest first, filtered by workflow,
// status and project, a page at a time.
func (ui *UI) handleExecutions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := executionsView{WorkflowID: q.Get("workflow_id"), Status: q.Get("status"), ProjectID: q.Get("project_id"),
		Statuses: combine.AllExecutionStatuses, Names: map[string]string{}}
	off, err := strconv.Atoi(q.Get("offset"))
	if q.Get("offset") != "" && (err != nil || off < 0) {
		return combine.Errorf(combine.EINVALID, "offset must be a whole number ≥ 0")
	}
	v.Offset = off
	wfs, err := ui.srv.Engine.Workflows.ListWorkflows(r.Context())
	if err != nil {
		return err
	}
	v.Workflows = wfs
	for _, wf := range wfs {
		v.Names[wf.ID] = wf.Name
	}
	list, total, err := ui.srv.Engine.Executions.ListExecutions(r.Context(), combine.ExecutionFilter{
		WorkflowID: v.WorkflowID, Status: combine.ExecutionStatus(v.Status), ProjectID: v.ProjectID,
		Limit: executionsPage, Offset: off,
	})
	if err != nil {
		return err
	}
	v.List, v.Total = list, total
	pageURL := func(o int) string {
		qq := url.Values{}
		for _, k := range []string{"workflow_id", "status", "project_id"} {
			if s := q.Get(k); s != "" {
				qq.Set(k, s)
			}
		}
		if o > 0 {
			qq.Set("offset", strconv.Itoa(o))
		}
		if len(qq) == 0 {
			return "/executions"
		}
		return "/executions?" + qq.Encode()
	}
	if off > 0 {
		v.Prev = pageURL(max(off-executionsPage, 0))
	}
	if off+len(list) < total {
		v.Next = pageURL(off + executionsPage)
	}
	return ui.render(w, r, http.StatusOK, "executions", page{Title: "Executions", Nav: "executions", Data: v})
}

// execView is the execution page.
type execView struct {
	E         *combine.Execution
	WF        *combine.Workflow
	CreatedBy string
	Steps     []stepRow
	Items     []*itemView
	Running   []*itemView
	Docs      []docRow
	Events    []eventRow
	LastSeq   int64
	CanCancel bool
	CanRetry  bool
	Costs     []CostRow
	HasCosts  bool
	// Error is why the last post was refused (shown at the top).
	Error string
}

type stepRow struct {
	Label   string
	Path    string
	Status  string
	Attempt int
	Who     string
	Updated time.Time
	DocID   string
}

type docRow struct {
	Doc      *combine.Document
	TypeName string
	Versions int
}

type eventRow struct {
	Seq  int64
	Type string
	Text string
	Time time.Time
}

// itemView is one open work item and the form for it.
type itemView struct {
	Item   *combine.WorkItem
	Key    string
	Anchor string
	Label  string
	CanAct bool
	Why    string
	// Editor is the document editor (input items, or an acceptance being
	// edited).
	Editor *editorView
	// Review is the document under review (acceptance items).
	Review    *combine.Document
	ReviewDoc *docNode
	Comment   string
	Answers   map[string]string
	Error     string
	Editing   bool
	// Kept marks a form holding what the person posted (a refused
	// document): live updates must not replace it.
	Kept bool
}

// editorView is a document editor: the generated form, or the raw JSON.
type editorView struct {
	Root    *field
	Raw     bool
	RawText string
	General []string
	Title   string
}

// itemState carries what a person posted back into the page re-rendered
// for them (a refused document, an editor operation).
type itemState struct {
	anchor   string
	doc      any
	raw      bool
	rawText  string
	problems []string
	err      string
	edit     bool
	comment  string
	answers  map[string]string
	title    string
}

// handleExecution shows an execution: its status, live progress, the
// open work items with the form each needs, documents and activity.
func (ui *UI) handleExecution(w http.ResponseWriter, r *http.Request) error {
	st := &itemState{}
	q := r.URL.Query()
	switch {
	case q.Get("edit") != "":
		st.anchor, st.edit = q.Get("edit"), true
	case q.Get("raw") != "":
		st.anchor, st.raw = q.Get("raw"), true
	default:
		st = nil
	}
	return ui.renderExecution(w, r, http.StatusOK, r.PathValue("id"), st)
}

// renderExecution renders the execution page as it is now.
func (ui *UI) renderExecution(w http.ResponseWriter, r *http.Request, status int, id string, st *itemState) error {
	// The events are read before the execution: the page then never shows
	// an older state than the stream position its script resumes from.
	evs, err := ui.lastEvents(r, id, 15)
	if err != nil {
		return err
	}
	e, err := ui.srv.Engine.Executions.FindExecution(r.Context(), id)
	if err != nil {
		return err
	}
	v, err := ui.executionView(r, e, evs, st)
	if err != nil {
		return err
	}
	if st != nil {
		// Shown at its work item when that is on the page, else on top.
		v.Error = st.err
		for _, it := range v.Items {
			if it.Anchor == st.anchor {
				v.Error = ""
			}
		}
	}
	return ui.render(w, r, status, "execution", page{Title: "Execution " + e.ID, Nav: "executions", Live: !e.Status.Terminal(), Data: v})
}

func (ui *UI) executionView(r *http.Request, e *combine.Execution, evs []*combine.Event, st *itemState) (*execView, error) {
	ctx := r.Context()
	a := caller(r)
	eng := ui.srv.Engine
	wf, err := eng.Workflows.FindWorkflow(ctx, e.WorkflowID)
	if err != nil && combine.ErrorCode(err) != combine.ENOTFOUND {
		return nil, err
	}
	names := &userNames{ui: ui, r: r, cache: map[string]string{}}
	v := &execView{E: e, WF: wf, CreatedBy: names.of("user:" + e.CreatedBy),
		CanCancel: !e.Status.Terminal() && a.Can(combine.PermExecutionCancel),
		CanRetry:  e.Status == combine.StatusFailed && a.Can(combine.PermExecutionWrite)}

	runs, err := eng.Steps.ListSteps(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		row := stepRow{Label: stepLabel(wf, run), Path: run.Path, Status: run.Status, Attempt: run.Attempt, Updated: run.UpdatedAt}
		if n := len(run.Attempts); n > 0 {
			last := run.Attempts[n-1]
			row.Who, row.DocID = names.of(last.Worker), last.DocumentID
		}
		v.Steps = append(v.Steps, row)
	}

	docs, _, err := eng.Documents.ListDocuments(ctx, combine.DocumentFilter{ExecutionID: e.ID, Limit: 500})
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for _, d := range docs {
		k := d.DocumentType + "\x00" + d.ScopeID
		if i, ok := latest[k]; ok {
			v.Docs[i].Versions++
			if d.Version > v.Docs[i].Doc.Version {
				v.Docs[i].Doc = d
			}
			continue
		}
		latest[k] = len(v.Docs)
		v.Docs = append(v.Docs, docRow{Doc: d, TypeName: docTypeName(wf, d.DocumentType), Versions: 1})
	}

	for _, it := range e.Pending {
		iv, err := ui.itemView(r, e, wf, it, docs, st)
		if err != nil {
			return nil, err
		}
		v.Items = append(v.Items, iv)
	}
	for _, it := range e.Running {
		v.Running = append(v.Running, &itemView{Item: it, Key: itemKey(it), Anchor: itemAnchor(it), Label: itemLabel(wf, it), Why: names.of(it.Worker)})
	}

	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		v.Events = append(v.Events, eventRow{Seq: ev.Seq, Type: ev.Type, Text: eventText(ev), Time: ev.Time})
	}
	if len(evs) > 0 {
		v.LastSeq = evs[len(evs)-1].Seq
	}
	if ui.opts.Costs != nil {
		rows, err := ui.opts.Costs.ExecutionCosts(r, e.ID)
		if err != nil {
			return nil, err
		}
		labels := map[string]string{}
		for _, st := range v.Steps {
			labels[st.Path] = st.Label
		}
		for i, row := range rows {
			if l, ok := labels[row.StepPath]; ok && row.StepPath != "" {
				rows[i].Label = l
			}
		}
		v.Costs, v.HasCosts = rows, true
	}
	return v, nil
}

// itemView builds the form of one open work item.
func (ui *UI) itemView(r *http.Request, e *combine.Execution, wf *combine.Workflow, it *combine.WorkItem, docs []*combine.Document, st *itemState) (*itemView, error) {
	ctx := r.Context()
	iv := &itemView{Item: it, Key: itemKey(it), Anchor: itemAnchor(it), Label: itemLabel(wf, it)}
	iv.CanAct, iv.Why = mayAct(caller(r), it)
	mine := st != nil && st.anchor == iv.Anchor
	if mine {
		iv.Error, iv.Comment, iv.Answers, iv.Editing = st.err, st.comment, st.answers, st.edit
		iv.Kept = st.doc != nil || st.raw || st.answers != nil || st.comment != ""
	}
	if !iv.CanAct {
		return iv, nil
	}
	switch it.Kind {
	case combine.WorkInput:
		sch, err := parseSchema(it.Schema)
		if err != nil {
			return nil, err
		}
		var doc any
		problems := it.Problems
		title := ""
		if mine && (st.doc != nil || st.raw || st.problems != nil) {
			doc, problems, title = st.doc, st.problems, st.title
		} else if prev := latestDoc(docs, it); prev != nil {
			// A redo (rejected, or QA failed on a worker's document):
			// start from the latest version rather than from nothing.
			doc, _ = decodeDoc(prev.Content)
		}
		if doc == nil && it.Item != nil {
			key := it.Item.EntityType + "_id"
			if sch.prop(key) != nil {
				doc = map[string]any{key: it.Item.ID}
			}
		}
		iv.Editor = newEditor(iv.Anchor, sch, doc, problems, mine && st.raw, stRaw(st, mine), title)
	case combine.WorkAcceptance:
		d, err := ui.srv.Engine.Documents.FindDocument(ctx, it.Document.DocumentID)
		if err != nil {
			return nil, err
		}
		iv.Review = d
		raw, _ := ui.srv.Engine.Workflows.DocumentSchema(ctx, e.WorkflowID, d.DocumentType)
		sch, err := parseSchema(raw)
		if err != nil {
			return nil, err
		}
		content, err := decodeDoc(d.Content)
		if err != nil {
			return nil, err
		}
		iv.ReviewDoc = renderDoc(sch, content, "", 3)
		if iv.Editing {
			doc, problems := content, []string(nil)
			if st.doc != nil || st.problems != nil {
				doc, problems = st.doc, st.problems
			}
			iv.Editor = newEditor(iv.Anchor, sch, doc, problems, st.raw, st.rawText, st.title)
		}
	}
	return iv, nil
}

func stRaw(st *itemState, mine bool) string {
	if !mine {
		return ""
	}
	return st.rawText
}

// newEditor builds an editor; in raw mode the text is what was posted,
// or the document as indented JSON.
func newEditor(prefix string, sch *schemaNode, doc any, problems []string, raw bool, rawText, title string) *editorView {
	root, general := buildEditor(prefix, sch, doc, problems)
	ev := &editorView{Root: root, General: general, Raw: raw, RawText: rawText, Title: title}
	if raw && rawText == "" {
		if doc == nil {
			doc = map[string]any{}
		}
		b, _ := json.MarshalIndent(doc, "", "  ")
		ev.RawText = string(b)
	}
	if raw {
		// Every problem is listed above the text.
		ev.General = problems
	}
	return ev
}

// latestDoc is the newest version this execution produced for the work
// item's document type and scope.
func latestDoc(docs []*combine.Document, it *combine.WorkItem) *combine.Document {
	var best *combine.Document
	for _, d := range docs {
		if d.DocumentType == it.DocumentType && d.ScopeID == it.ScopeID && (best == nil || d.Version > best.Version) {
			best = d
		}
	}
	return best
}

// lastEvents returns the execution's last n events, oldest first.
func (ui *UI) lastEvents(r *http.Request, id string, n int) ([]*combine.Event, error) {
	var out []*combine.Event
	var after int64
	for {
		batch, err := ui.srv.Engine.Events.ListEvents(r.Context(), id, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if len(out) > n {
			out = out[len(out)-n:]
		}
		if len(batch) < 500 {
			return out, nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// eventText describes an event in a few words.
func eventText(ev *combine.Event) string {
	var data map[string]any
	_ = json.Unmarshal(ev.Data, &data)
	text := humanize(ev.Type)
	if p, ok := data["step_path"].(string); ok && p != "" {
		text += " · " + p
	}
	if s, ok := data["error"].(string); ok && s != "" {
		text += " · " + s
	}
	return text
}

// stepLabel names a step run: its document type's name and its items.
func stepLabel(wf *combine.Workflow, run *combine.StepRun) string {
	label := humanize(run.StepID)
	if wf != nil {
		if def, _ := wf.FindStep(run.StepID); def != nil && def.Produces != "" {
			label = docTypeName(wf, def.Produces)
		}
	}
	var items []string
	for _, it := range run.Items {
		items = append(items, it.EntityType+" "+it.ItemID)
	}
	if len(items) > 0 {
		label += " — " + strings.Join(items, ", ")
	}
	return label
}

// userNames turns "user:<id>" workers and user ids into names, once per
// request each.
type userNames struct {
	ui    *UI
	r     *http.Request
	cache map[string]string
}

func (n *userNames) of(worker string) string {
	id, ok := strings.CutPrefix(worker, "user:")
	if !ok {
		if worker == "" {
			return ""
		}
		return worker
	}
	if s, ok := n.cache[id]; ok {
		return s
	}
	name := id
	if u, err := n.ui.srv.Identity.Users.FindUserByID(n.r.Context(), id); err == nil {
		name = u.Name
		if name == "" {
			name = u.Email
		}
	}
	n.cache[id] = name
	return name
}
