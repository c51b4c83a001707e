package server

import (
	"html/template"
	"net/http"

	"github.com/thecombine/combine"
)

// homeTemplate is the signed-in landing page: who you are, what you may
// do, the workflows and the latest executions — a starting point until the
// full web UI, and where sign-in links and logins land.
var homeTemplate = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Combine</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1d2433}
code{background:#f2f4f7;padding:.1rem .3rem;border-radius:4px}.muted{color:#5b6475}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e6eb}
button{padding:.4rem .9rem;border:1px solid #c5cad3;border-radius:6px;background:#fff;cursor:pointer}</style>
</head><body><h1>The Combine</h1>
<p>Signed in as <strong>{{.Name}}</strong> ({{.Email}}) · roles: {{range $i, $r := .Roles}}{{if $i}}, {{end}}<code>{{$r}}</code>{{end}}</p>
<form method="post" action="/auth/logout"><button type="submit">Sign out</button></form>
{{if .CanReadWorkflows}}<h2>Workflows</h2>
{{if .Workflows}}<table><tr><th>id</th><th>name</th><th>revision</th></tr>
{{range .Workflows}}<tr><td><code>{{.ID}}</code></td><td>{{.Name}}</td><td>{{.Revision}}</td></tr>{{end}}</table>{{else}}<p class="muted">No workflow is loaded.</p>{{end}}{{end}}
{{if .CanReadExecutions}}<h2>Latest executions</h2>
{{if .Executions}}<table><tr><th>execution</th><th>workflow</th><th>project</th><th>status</th><th>updated</th></tr>
{{range .Executions}}<tr><td><code>{{.ID}}</code></td><td>{{.WorkflowID}}</td><td>{{.ProjectID}}</td><td>{{.Status}}</td><td>{{.UpdatedAt.Format "2006-01-02 15:04"}}</td></tr>{{end}}</table>{{else}}<p class="muted">No execution yet.</p>{{end}}{{end}}
<h2>API</h2>
<p>Create a personal access token (<code>POST /api/v1/tokens</code>, or <code>combine tokens create</code>) and call the
API with <code>Authorization: Bearer pat_…</code>: <code>GET /api/v1/me</code>, <code>/api/v1/workflows</code>,
<code>/api/v1/executions</code>, <code>/api/v1/documents</code>. See the README and docs/.</p>
</body></html>
`))

type homeData struct {
	Name, Email       string
	Roles             []string
	CanReadWorkflows  bool
	CanReadExecutions bool
	Workflows         []*combine.Workflow
	Executions        []*combine.Execution
}

// handleHome sends anonymous visitors to sign in and shows a signed-in
// user who they are and what is going on.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	a := combine.AuthFromContext(r.Context())
	if a == nil {
		http.Redirect(w, r, "/auth/login", http.StatusSeeOther)
		return nil
	}
	d := homeData{Name: a.Name, Email: a.Email, Roles: a.Roles,
		CanReadWorkflows: a.Can(combine.PermWorkflowRead), CanReadExecutions: a.Can(combine.PermExecutionRead)}
	if d.CanReadWorkflows && s.Engine.Workflows != nil {
		wfs, err := s.Engine.Workflows.ListWorkflows(r.Context())
		if err != nil {
			return err
		}
		d.Workflows = wfs
	}
	if d.CanReadExecutions && s.Engine.Executions != nil {
		list, _, err := s.Engine.Executions.ListExecutions(r.Context(), combine.ExecutionFilter{Limit: 10})
		if err != nil {
			return err
		}
		d.Executions = list
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	return homeTemplate.Execute(w, d)
}
