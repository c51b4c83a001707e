package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/thecombine/combine"
	"github.com/thecombine/combine/workflow"
)

// Names of the two answers a model may give.
const (
	toolDocument      = "submit_document"
	toolClarification = "ask_clarification"
)

// Answer formats.
const (
	formatTools    = "tools"    // Anthropic: a call of one of the two tools, or text
	formatEnvelope = "envelope" // OpenAI: {"document": …, "clarification": …}
)

// answer is a model's answer as stored in the ledger (llm_calls.response):
// enough to derive the work result again after a crash without a new call.
type answer struct {
	Format     string          `json:"format"`
	Tool       string          `json:"tool,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"`
	Text       string          `json:"text,omitempty"`
	Refusal    string          `json:"refusal,omitempty"`
	StopReason string          `json:"stop_reason,omitempty"`
	// Strict tells that the envelope was produced under a derived strict
	// schema: optional fields come back as null.
	Strict bool `json:"strict,omitempty"`
}

// interpret turns an answer into the work result the engine applies. An
// answer that cannot be read is a result with problems: the engine counts
// it as a failed QA check and asks again with them (remediation).
func interpret(a *answer, docSchema json.RawMessage) *combine.WorkResult {
	if a.Refusal != "" {
		return problems("$: the model refused to answer: " + snippet(a.Refusal))
	}
	if a.StopReason == "max_tokens" || a.StopReason == "length" {
		return problems("$: the answer was cut off at the output token limit (LLM_MAX_OUTPUT_TOKENS); write a shorter document")
	}
	switch a.Format {
	case formatTools:
		switch a.Tool {
		case toolDocument:
			return document(a.Input)
		case toolClarification:
			return clarification(a.Input)
		}
		if strings.TrimSpace(a.Text) == "" {
			return problems("$: the answer was empty; call " + toolDocument + " with the document or " + toolClarification + " with questions")
		}
		// A model offered the tools without being forced may answer in
		// text with the JSON object the task prompt describes.
		r, err := workflow.ParseReply(a.Text)
		if err != nil {
			return problems("$: " + combine.ErrorMessage(err) + "; call " + toolDocument + " with the document or " + toolClarification + " with questions")
		}
		if r.Document != nil {
			return document(r.Document)
		}
		return clarification(r.Clarification)
	case formatEnvelope:
		var env map[string]json.RawMessage
		if err := json.Unmarshal([]byte(a.Text), &env); err != nil {
			return problems(fmt.Sprintf("$: the answer is not one JSON object {\"document\": …} or {\"clarification\": …}: %s", snippet(a.Text)))
		}
		doc, cl := env["document"], env["clarification"]
		hasDoc, hasCl := isSet(doc), isSet(cl)
		switch {
		case hasDoc && hasCl:
			return problems("$: the answer has both \"document\" and \"clarification\"; give exactly one and set the other to null")
		case hasDoc:
			if a.Strict {
				doc = withoutNulls(doc, docSchema)
			}
			return document(doc)
		case hasCl:
			return clarification(cl)
		}
		return problems("$: the answer has neither \"document\" nor \"clarification\"")
	}
	return problems("$: unknown answer format " + a.Format)
}

func isSet(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

func withoutNulls(doc json.RawMessage, schema json.RawMessage) json.RawMessage {
	sm, err := decodeSchema(schema)
	if err != nil {
		return doc
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return doc
	}
	b, err := json.Marshal(dropNulls(v, sm))
	if err != nil {
		return doc
	}
	return b
}

func document(raw json.RawMessage) *combine.WorkResult {
	t := bytes.TrimSpace(raw)
	if !bytes.HasPrefix(t, []byte("{")) || !json.Valid(t) {
		return problems("$: the document must be a JSON object")
	}
	return &combine.WorkResult{Document: &combine.Submission{Content: json.RawMessage(t)}}
}

func clarification(raw json.RawMessage) *combine.WorkResult {
	var set struct {
		Questions []combine.Question `json:"questions"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return problems("$.questions: not a clarification set: " + err.Error())
	}
	if len(set.Questions) == 0 {
		return problems("$.questions: a clarification set needs at least one question")
	}
	return &combine.WorkResult{Questions: set.Questions}
}

func problems(p ...string) *combine.WorkResult {
	return &combine.WorkResult{Problems: p}
}

// snippet is s shortened for a message.
func snippet(s string) string {
	s = strings.TrimSpace(s)
	const n = 200
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
