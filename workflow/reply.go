package workflow

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/thecombine/combine"
)

// Reply is a worker's answer under the response contract every built-in
// task prompt states: exactly one JSON object, either {"document": {…}}
// or {"clarification": {"questions": […]}}.
type Reply struct {
	// Document is set when the worker produced the document.
	Document json.RawMessage
	// Clarification is set when the worker asks questions instead; check
	// it with ValidateClarification.
	Clarification json.RawMessage
}

// ParseReply reads a worker's reply text. It tolerates one surrounding
// Markdown code fence (a common habit of chat models) and nothing else:
// prose around the JSON, both keys, neither key or another key is an
// EINVALID error whose message says what is wrong, for the remediation
// attempt to quote back to the worker.
func ParseReply(text string) (*Reply, error) {
	body := strings.TrimSpace(text)
	if strings.HasPrefix(body, "```") && strings.HasSuffix(body, "```") && len(body) >= 6 {
		body = strings.TrimSpace(body[3 : len(body)-3])
		body = strings.TrimSpace(strings.TrimPrefix(body, "json"))
	}
	var env map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, combine.Errorf(combine.EINVALID, "the reply is not one JSON object: %v", err)
	}
	if dec.More() {
		return nil, combine.Errorf(combine.EINVALID, "the reply has content after its JSON object")
	}
	doc, hasDoc := env["document"]
	cl, hasCl := env["clarification"]
	for k := range env {
		if k != "document" && k != "clarification" {
			return nil, combine.Errorf(combine.EINVALID, "the reply has an unexpected top-level key %q; use only \"document\" or \"clarification\"", k)
		}
	}
	switch {
	case hasDoc && hasCl:
		return nil, combine.Errorf(combine.EINVALID, "the reply has both \"document\" and \"clarification\"; give exactly one")
	case hasDoc && isObject(doc):
		return &Reply{Document: doc}, nil
	case hasCl && isObject(cl):
		return &Reply{Clarification: cl}, nil
	case hasDoc || hasCl:
		return nil, combine.Errorf(combine.EINVALID, "the reply's \"document\" or \"clarification\" must be a JSON object")
	}
	return nil, combine.Errorf(combine.EINVALID, "the reply has neither \"document\" nor \"clarification\"")
}

func isObject(raw json.RawMessage) bool {
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))
}
