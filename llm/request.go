package llm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"sort"
	"strings"

	"github.com/thecombine/combine"
)

// Request is a step's request in provider-neutral form. Its parts are in
// the order providers cache prefixes: System (role prompt, task prompt and
// the answer contract) and Context (the project's inputs and the input
// documents) are the stable prefix — the same for every attempt of a step
// and, for the system part, every step playing the same role and task —
// and Feedback is what changes between attempts (clarification answers,
// the reviewer's comment, QA problems, the retry comment). The same task
// always gives byte-identical parts.
type Request struct {
	// RolePrompt and TaskPrompt are the verified prompt texts.
	RolePrompt string
	TaskPrompt string
	// Context renders the execution's inputs and the input documents.
	Context string
	// Feedback renders what this attempt must address ("" for none).
	Feedback string
	// Instruction closes the request: what to produce now.
	Instruction string
	// DocumentType and DocumentName name what the step produces.
	DocumentType string
	DocumentName string
	// DocSchema is the document type's JSON schema (nil: any object);
	// ClarSchema the clarification set's.
	DocSchema  json.RawMessage
	ClarSchema json.RawMessage
	// Prompts are the prompt versions and hashes the request carries.
	Prompts []combine.PromptRef
}

// assemble builds the request of an attempt from its task.
func assemble(t *combine.Task, clarSchema json.RawMessage, docName string) (*Request, error) {
	if t.Prompts.Role.Text == "" || t.Prompts.Task.Text == "" {
		return nil, fmt.Errorf("step %s has no role or task prompt text", t.Step.StepID)
	}
	r := &Request{
		RolePrompt: strings.TrimSpace(t.Prompts.Role.Text), TaskPrompt: strings.TrimSpace(t.Prompts.Task.Text),
		DocumentType: t.DocumentType, DocumentName: docName, DocSchema: t.Schema, ClarSchema: clarSchema,
		Prompts: []combine.PromptRef{t.Prompts.Role.PromptRef, t.Prompts.Task.PromptRef},
	}
	if r.DocumentName == "" {
		r.DocumentName = t.DocumentType
	}
	var err error
	if r.Context, err = renderContext(t); err != nil {
		return nil, err
	}
	r.Feedback = renderFeedback(t)
	r.Instruction = fmt.Sprintf("Write the %s (document type %q) for %s now, or ask clarification questions if your inputs are insufficient.",
		r.DocumentName, r.DocumentType, describeScope(t.Step))
	return r, nil
}

func describeScope(ref combine.StepRef) string {
	if n := len(ref.Items); n > 0 {
		it := ref.Items[n-1]
		return fmt.Sprintf("%s %q", it.EntityType, it.ItemID)
	}
	return "the project"
}

// compact re-encodes JSON without insignificant whitespace; the same
// value always gives the same bytes.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func attr(name, value string) string {
	return fmt.Sprintf(` %s="%s"`, name, html.EscapeString(value))
}

// text escapes s for the content of a tag: only what could open or close
// one (quotes stay as they are, so quoted problems read naturally).
func text(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// renderContext renders the project inputs given at start and every input
// document (or item), in the order the step declares them.
func renderContext(t *combine.Task) (string, error) {
	var b strings.Builder
	b.WriteString("<project" + attr("id", t.ProjectID) + ">\n")
	if in := bytes.TrimSpace(t.ExecutionInputs); len(in) > 0 && string(in) != "{}" && string(in) != "null" {
		b.WriteString("<project_inputs>\n" + compact(in) + "\n</project_inputs>\n")
	}
	b.WriteString("</project>\n")
	if len(t.Inputs) == 0 {
		b.WriteString("<input_documents>none</input_documents>\n")
	} else {
		b.WriteString("<input_documents>\n")
	}
	var ctxEntity, ctxItem string
	if n := len(t.Step.Items); n > 0 {
		ctxEntity, ctxItem = t.Step.Items[n-1].EntityType, t.Step.Items[n-1].ItemID
	}
	hasContext := false
	for _, in := range t.Inputs {
		if in.EntityType != "" {
			role := "ancestor"
			if in.EntityType == ctxEntity && in.ItemID == ctxItem {
				role, hasContext = "current", true
			}
			b.WriteString("<item" + attr("entity_type", in.EntityType) + attr("id", in.ItemID) + attr("iteration", role) +
				attr("from_document_type", in.DocumentType) + attr("from_version", fmt.Sprint(in.Version)) + ">\n")
			b.WriteString(compact(in.Content) + "\n</item>\n")
			continue
		}
		b.WriteString("<document" + attr("type", in.DocumentType) + attr("scope", in.ScopeType+":"+in.ScopeID) +
			attr("version", fmt.Sprint(in.Version)) + attr("title", in.Title) + ">\n")
		b.WriteString(compact(in.Content) + "\n</document>\n")
	}
	if len(t.Inputs) > 0 {
		b.WriteString("</input_documents>\n")
	}
	if !hasContext && len(t.ContextItem) > 0 {
		b.WriteString("<item" + attr("entity_type", ctxEntity) + attr("id", ctxItem) + attr("iteration", "current") + ">\n" +
			compact(t.ContextItem) + "\n</item>\n")
	}
	return b.String(), nil
}

// renderFeedback renders what this attempt must address, "" when nothing.
func renderFeedback(t *combine.Task) string {
	var b strings.Builder
	if len(t.Questions) > 0 {
		b.WriteString("<clarification>\nYou asked these questions earlier; the answers are given. Do not ask them again.\n")
		for _, q := range t.Questions {
			ans, ok := t.Answers[q.ID]
			if !ok || strings.TrimSpace(ans) == "" {
				ans = "(not answered: make a reasonable, labelled assumption)"
			}
			b.WriteString("<question" + attr("id", q.ID) + ">" + text(q.Text) + "</question>\n")
			b.WriteString("<answer" + attr("id", q.ID) + ">" + text(ans) + "</answer>\n")
		}
		// Answers to questions of other rounds, if any, in a stable order.
		var extra []string
		for id := range t.Answers {
			found := false
			for _, q := range t.Questions {
				found = found || q.ID == id
			}
			if !found {
				extra = append(extra, id)
			}
		}
		sort.Strings(extra)
		for _, id := range extra {
			b.WriteString("<answer" + attr("id", id) + ">" + text(t.Answers[id]) + "</answer>\n")
		}
		b.WriteString("</clarification>\n")
	}
	if t.ReviewerComment != "" {
		b.WriteString("<reviewer_comment>\nA reviewer rejected the previous version of this document. Address every point:\n" +
			text(t.ReviewerComment) + "\n</reviewer_comment>\n")
	}
	if len(t.Problems) > 0 {
		b.WriteString("<validation_problems>\nThe previous answer failed validation. Fix every problem:\n")
		for _, p := range t.Problems {
			b.WriteString("- " + text(p) + "\n")
		}
		b.WriteString("</validation_problems>\n")
	}
	if t.RetryComment != "" {
		b.WriteString("<retry_comment>\nThe step failed before and was retried by a person, who said:\n" +
			text(t.RetryComment) + "\n</retry_comment>\n")
	}
	return b.String()
}

// hashBytes is the lowercase hex SHA-256 of b.
func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
