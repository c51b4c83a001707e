package e2e_test

import (
	"fmt"
	"strings"
)

// The documents a person writes for the built-in software product
// development workflow. Content is a pure function of (document type,
// scope, revision), so an interrupted run and an uninterrupted one
// produce byte-identical documents. Each backlog has two items, so the
// workflow iterates over two epics with two stories each.

// builtinWorkflow is the built-in workflow the end-to-end tests run.
const builtinWorkflow = "software_product_development"

var (
	epicIDs  = []string{"E1", "E2"}
	storyIDs = []string{"S1", "S2"}
)

// scopeItem returns the id of the innermost item of kind ("epic" or
// "story") in a scope id such as "epic:E1/story:S2".
func scopeItem(scopeID, kind string) string {
	for _, part := range strings.Split(scopeID, "/") {
		if k, id, ok := strings.Cut(part, ":"); ok && k == kind {
			return id
		}
	}
	return ""
}

func risk(what string) map[string]any {
	return map[string]any{"description": what, "likelihood": "low", "impact": "medium", "mitigation": "watch " + what}
}

func decision(id, what string) map[string]any {
	return map[string]any{"id": id, "title": what, "context": "context of " + what, "decision": "we do " + what, "consequences": "we live with " + what}
}

// document returns the content a person submits for docType in scopeID;
// rev distinguishes a redo (after a rejection) from the first version.
func document(docType, scopeID string, rev int) map[string]any {
	note := ""
	if rev > 1 {
		note = fmt.Sprintf(" (revision %d)", rev)
	}
	epic, story := scopeItem(scopeID, "epic"), scopeItem(scopeID, "story")
	switch docType {
	case "project_discovery":
		return map[string]any{
			"title": "Discovery of " + scopeID + note, "summary": "A tool that helps teams plan.",
			"problem_statement": "Planning is slow.", "goals": []string{"plan faster"},
			"stakeholders":  []map[string]any{{"role": "sponsor", "interest": "delivery", "influence": "high"}},
			"user_personas": []map[string]any{{"name": "Pat", "description": "a planner", "needs": []string{"speed"}}},
			"constraints":   []map[string]any{{"kind": "schedule", "description": "one quarter"}},
			"assumptions":   []string{"teams use the web"}, "risks": []map[string]any{risk("adoption")},
			"success_metrics": []map[string]any{{"metric": "planning time", "target": "halved"}},
		}
	case "epic_backlog":
		var epics []map[string]any
		for _, id := range epicIDs {
			epics = append(epics, map[string]any{
				"id": id, "title": "Epic " + id + note, "description": "what " + id + " delivers",
				"business_value": "value of " + id, "priority": "must", "acceptance_criteria": []string{id + " works"},
			})
		}
		return map[string]any{"title": "Epic backlog" + note, "epics": epics}
	case "project_architecture":
		return map[string]any{
			"title": "Architecture" + note, "overview": "a web service and a database", "architecture_style": "modular monolith",
			"components":         []map[string]any{{"id": "api", "name": "API", "responsibility": "serve", "technology": "Go"}},
			"quality_attributes": []map[string]any{{"attribute": "availability", "requirement": "99.9%", "approach": "two instances"}},
			"security":           map[string]any{"authentication": "OIDC", "authorization": "roles", "data_protection": "TLS"},
			"deployment":         map[string]any{"environments": []string{"production"}, "topology": "two instances behind a proxy"},
			"decisions":          []map[string]any{decision("ADR1", "a monolith")},
		}
	case "epic_architecture":
		return map[string]any{
			"epic_id": epic, "title": "Architecture of " + epic + note, "overview": "how " + epic + " fits",
			"component_changes": []map[string]any{{"component_id": "api", "change": "routes for " + epic}},
			"data_changes":      []map[string]any{}, "interface_changes": []map[string]any{},
			"decisions": []map[string]any{decision("ADR-"+epic, "tables for "+epic)}, "risks": []map[string]any{risk(epic + " scope")},
		}
	case "story_backlog":
		var stories []map[string]any
		for _, id := range storyIDs {
			stories = append(stories, map[string]any{
				"id": id, "title": "Story " + epic + "/" + id + note, "as_a": "planner", "i_want": "to do " + id,
				"so_that": "I plan faster", "priority": "should", "estimate_points": 3,
				"acceptance_criteria": []map[string]any{{"id": "AC1", "given": "a plan", "when": "I do " + id, "then": "it is done"}},
			})
		}
		return map[string]any{"epic_id": epic, "title": "Stories of " + epic + note, "stories": stories}
	case "implementation_notes":
		return map[string]any{
			"story_id": story, "title": "Notes for " + epic + "/" + story + note, "approach": "small steps",
			"changes":            []map[string]any{{"location": "api", "change": "handler for " + story}},
			"test_plan":          []map[string]any{{"level": "unit", "description": "covers " + story}},
			"edge_cases":         []string{"empty input"},
			"definition_of_done": []string{"tests pass"},
		}
	}
	panic("no content for document type " + docType)
}

// invalidDocument fails its type's schema (a required field is missing).
func invalidDocument(docType, scopeID string) map[string]any {
	d := document(docType, scopeID, 1)
	delete(d, "title")
	return d
}

// latestKey names a latest document: type, scope and version.
type latestKey struct {
	DocumentType string
	ScopeID      string
	Version      int
}

// expectedLatest is the set of latest documents of a completed run of the
// built-in workflow for project, given the version each (type, scope)
// reached (1 unless listed in versions).
func expectedLatest(project string, versions map[string]int) map[latestKey]bool {
	v := func(docType, scope string) int {
		if n, ok := versions[docType+"@"+scope]; ok {
			return n
		}
		return 1
	}
	want := map[latestKey]bool{}
	for _, t := range []string{"project_discovery", "epic_backlog", "project_architecture"} {
		want[latestKey{t, project, v(t, project)}] = true
	}
	for _, e := range epicIDs {
		es := "epic:" + e
		for _, t := range []string{"epic_architecture", "story_backlog"} {
			want[latestKey{t, es, v(t, es)}] = true
		}
		for _, s := range storyIDs {
			ss := es + "/story:" + s
			want[latestKey{"implementation_notes", ss, v("implementation_notes", ss)}] = true
		}
	}
	return want
}
