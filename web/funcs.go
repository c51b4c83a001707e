package web

import (
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/thecombine/combine"
)

// funcs are the helpers templates may call.
var funcs = template.FuncMap{
	"asset":       assetURL,
	"human":       humanize,
	"when":        when,
	"statusLabel": statusLabel,
	"kindLabel":   kindLabel,
	"join":        strings.Join,
	"has":         func(list []string, s string) bool { return slices.Contains(list, s) },
	"add":         func(a, b int) int { return a + b },
	"roles":       rolesLabel,
	"permString":  func(p combine.Permission) string { return string(p) },
	"stepsOf":     stepsOf,
	"heading":     heading,
	"itemArgs":    func(i *itemView, v *execView) map[string]any { return map[string]any{"I": i, "V": v} },
	"editorArgs":  func(ed *editorView, anchor string) map[string]any { return map[string]any{"Ed": ed, "Anchor": anchor} },
}

// when formats a time for people: UTC, to the minute.
func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if v == nil || v.IsZero() {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04 UTC")
	}
	return ""
}

var statusLabels = map[combine.ExecutionStatus]string{
	combine.StatusPending:              "pending",
	combine.StatusRunning:              "running",
	combine.StatusWaitingInput:         "waiting for input",
	combine.StatusWaitingClarification: "waiting for answers",
	combine.StatusWaitingAcceptance:    "waiting for a decision",
	combine.StatusCompleted:            "completed",
	combine.StatusFailed:               "failed",
	combine.StatusCancelled:            "cancelled",
}

func statusLabel(s combine.ExecutionStatus) string {
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return string(s)
}

var kindLabels = map[string]string{
	combine.WorkInput:         "waits for a document",
	combine.WorkClarification: "waits for answers",
	combine.WorkAcceptance:    "waits for a decision",
	combine.WorkRunning:       "being worked on",
}

func kindLabel(k string) string {
	if l, ok := kindLabels[k]; ok {
		return l
	}
	return k
}

func rolesLabel(roles []string) string {
	if len(roles) == 0 {
		return "—"
	}
	return strings.Join(roles, ", ")
}

// heading renders a heading of a computed level (html/template cannot
// compute a tag name); the text is escaped.
func heading(level int, text string) template.HTML {
	if text == "" {
		return ""
	}
	level = max(1, min(level, 6))
	h := string(rune('0' + level))
	return template.HTML("<h" + h + ">" + template.HTMLEscapeString(text) + "</h" + h + ">")
}
