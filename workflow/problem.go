package workflow

import (
	"fmt"
	"sort"
	"strings"

	"github.com/thecombine/combine"
)

// Problem codes of definition validation. Each names one class of error
// of the engine spec; docs/workflows.md shows an example of each.
const (
	// Schema errors: the JSON does not have the workflow.v1 shape.
	CodeInvalidJSON = "invalid_json"
	// CodeDuplicateKey is a member written twice in one object: parsers
	// keep the last silently, so a reviewer could read another value than
	// the server uses.
	CodeDuplicateKey       = "duplicate_key"
	CodeMissingField       = "missing_field"
	CodeUnknownField       = "unknown_field"
	CodeInvalidType        = "invalid_type"
	CodeInvalidValue       = "invalid_value"
	CodeUnsupportedVersion = "unsupported_schema_version"
	CodeInvalidID          = "invalid_id"
	CodeInvalidDate        = "invalid_date"

	// Reference errors.
	CodeUnknownDocumentType = "unknown_document_type"
	CodeUnknownEntityType   = "unknown_entity_type"
	CodeUnknownScope        = "unknown_scope"
	CodeUnknownSchema       = "unknown_schema"
	CodeInvalidSchema       = "invalid_schema"

	// Structure errors.
	CodeScopeTree          = "invalid_scope_tree"
	CodeOwnershipCycle     = "ownership_cycle"
	CodeInvalidOwnership   = "invalid_ownership"
	CodeScopeMismatch      = "scope_mismatch"
	CodeBadIterationSource = "bad_iteration_source"
	CodeInvalidStep        = "invalid_step"
	CodeInvalidInput       = "invalid_input"
	CodeInputScope         = "input_scope_violation"
	CodeInvalidContext     = "invalid_context_input"
	CodeInputNotAvailable  = "input_not_available"
	CodeDuplicateStepID    = "duplicate_step_id"
	CodeDuplicateProducer  = "duplicate_production"
	CodeInvalidAcceptedBy  = "invalid_accepted_by"
	CodeMissingRolePrompt  = "missing_role_prompt"
	CodeMissingTaskPrompt  = "missing_task_prompt"
	// CodeUnknownRole is a model chosen for a role no step plays.
	CodeUnknownRole = "unknown_role"

	// Load errors (not about one definition's content).
	CodeDuplicateWorkflow = "duplicate_workflow_id"
	CodePromptTampered    = "prompt_hash_mismatch"
	CodePromptManifest    = "invalid_prompt_manifest"
)

// Problem codes of document and clarification validation.
const (
	CodeDocumentSchema = "schema_violation"
	CodeDocumentJSON   = "invalid_json"
)

// DefinitionError is a definition (or prompt set, or schema set) that
// failed to load, with every problem found in it.
type DefinitionError struct {
	// File names the definition's source, e.g. "builtin/x.json" or a path
	// inside WORKFLOWS_DIR.
	File     string
	Problems []combine.Problem
}

// Error lists every problem, one per line: "file: $.path: reason [code]".
func (e *DefinitionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workflow definition %s is invalid (%d problem", e.File, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(")")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s: %s [%s]", e.File, p.Path, p.Message, p.Code)
	}
	return b.String()
}

// CombineError returns the error as a client-safe *combine.Error whose
// Details hold {"file": ..., "problems": [...]}.
func (e *DefinitionError) CombineError() *combine.Error {
	return &combine.Error{
		Code:    combine.EINVALID,
		Message: fmt.Sprintf("workflow definition %s has %d problem(s)", e.File, len(e.Problems)),
		Details: map[string]any{"file": e.File, "problems": e.Problems},
	}
}

// LoadError gathers the DefinitionErrors of one load.
type LoadError struct {
	Errors []*DefinitionError
}

// Error joins every definition's problems.
func (e *LoadError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		parts[i] = d.Error()
	}
	return strings.Join(parts, "\n")
}

// problems collects problems during one validation.
type problems struct {
	list []combine.Problem
}

func (ps *problems) add(code, path, format string, args ...any) {
	ps.list = append(ps.list, combine.Problem{Code: code, Path: path, Message: fmt.Sprintf(format, args...)})
}

// sortedKeys returns the keys of m in order, for deterministic reports.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
