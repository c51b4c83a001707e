package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/thecombine/combine"
)

// mayAct reports whether the caller may act on an open work item, and if
// not, why: the rules the engine enforces, shown before anyone tries.
// Writing and answering need execution:write; deciding also needs one of
// the reviewer roles the document type names (an admin always may).
func mayAct(a *combine.AuthContext, it *combine.WorkItem) (bool, string) {
	if it.Kind == combine.WorkRunning {
		return false, ""
	}
	if !a.Can(combine.PermExecutionWrite) {
		return false, "Your roles let you follow this execution, not work on it."
	}
	if it.Kind != combine.WorkAcceptance {
		return true, ""
	}
	if a.Can(combine.PermAdmin) {
		return true, ""
	}
	for _, r := range it.AcceptedBy {
		if a.HasRole(r) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("Deciding needs one of the reviewer roles %s.", strings.Join(it.AcceptedBy, ", "))
}

// whyMine says why an item is on the caller's list.
func whyMine(a *combine.AuthContext, it *combine.WorkItem) string {
	if it.Kind == combine.WorkAcceptance {
		for _, r := range it.AcceptedBy {
			if a.HasRole(r) {
				return "you review as " + r
			}
		}
		return "you may decide as admin"
	}
	return "you may write it"
}

// itemKey identifies a work item on a page (path and attempt).
func itemKey(it *combine.WorkItem) string {
	return fmt.Sprintf("%s@%d", it.StepPath, it.Attempt)
}

// itemAnchor is a short, stable HTML id for a work item.
func itemAnchor(it *combine.WorkItem) string {
	sum := sha256.Sum256([]byte(it.StepPath))
	return "w" + hex.EncodeToString(sum[:5])
}

// itemTitle names a work item for people: its document type and the
// iteration item it is on.
func itemLabel(wf *combine.Workflow, it *combine.WorkItem) string {
	name := humanize(it.DocumentType)
	if wf != nil {
		if dt, ok := wf.DocumentTypes[it.DocumentType]; ok && dt.Name != "" {
			name = dt.Name
		}
	}
	if it.Item != nil {
		return fmt.Sprintf("%s — %s %s", name, it.Item.EntityType, it.Item.ID)
	}
	return name
}

// docTypeName is a document type's display name.
func docTypeName(wf *combine.Workflow, t string) string {
	if wf != nil {
		if dt, ok := wf.DocumentTypes[t]; ok && dt.Name != "" {
			return dt.Name
		}
	}
	return humanize(t)
}
