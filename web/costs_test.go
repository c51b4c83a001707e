package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/sqldb"
)

// TestExecutionPageCosts: the execution page shows the LLM cost ledger
// of the execution (wired as `combine serve` wires it) — a row per step,
// named as in the progress table, and a total that says when a model had
// no price — and "nothing spent" before any call.
func TestExecutionPageCosts(t *testing.T) {
	w := newWorld(t)
	pm, pmUser := w.pageClient(t, "costs@example.com", combine.RoleOperator, "pm")
	resp, _ := pm.do("POST", "/workflows/software_product_development/executions", url.Values{"project_id": {"costs"}})
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/executions/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(id, "exe_") {
		t.Fatalf("start: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	it := pendingItem(t, w, w.asUser(pmUser), id, combine.WorkInput)

	if body := costsSection(t, body0(pm, id)); !strings.Contains(body, "Nothing spent yet.") {
		t.Fatalf("before any call: %s", body)
	}

	// Three calls as the LLM worker records them: two priced calls of the
	// open step, one of a model missing from the price table.
	now := time.Now().UTC()
	for i, c := range []struct {
		path            string
		in, out, cached int64
		usd             float64
		priced          bool
		seq             int
	}{
		{it.StepPath, 1200, 300, 1000, 0.0125, true, 1},
		{it.StepPath, 800, 200, 0, 0.0075, true, 2},
		{"epic_backlog", 50, 5, 0, 0, false, 1},
	} {
		if _, err := w.db.W.ExecContext(t.Context(), `INSERT INTO llm_calls (id, execution_id, workflow_id, step_path, attempt, seq,
			provider, model, status, request_hash, input_tokens, output_tokens, cache_read_tokens, cost_usd, priced, started_at, ended_at)
			VALUES ($1, $2, 'software_product_development', $3, 1, $4, 'anthropic', 'm', $5, 'h', $6, $7, $8, $9, $10, $11, $11)`,
			"llm_test"+itoa(i), id, c.path, c.seq, combine.CallCompleted, c.in, c.out, c.cached, c.usd, c.priced,
			sqldb.Time(now.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	body := costsSection(t, body0(pm, id))
	for _, want := range []string{
		"<td>Project discovery</td><td>2000</td><td>500</td><td>1000</td><td>$0.0200</td>",
		"<td>epic_backlog</td><td>50</td><td>5</td><td>0</td><td>$0.0000 and 1 call of a model without a price</td>",
		"<td>Total</td><td>2050</td><td>505</td><td>1000</td><td>$0.0200 and 1 call of a model without a price</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the cost table lacks %s:\n%s", want, body)
		}
	}
}

// costsSection is the page's cost section.
func costsSection(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `<section id="costs"`)
	if i < 0 {
		t.Fatalf("no cost section on the page")
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}
