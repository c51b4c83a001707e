package web

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// field is one input (or group of inputs) of the generated document
// editor, rendered by the "field" template, which calls itself for
// object members and array rows.
type field struct {
	Path  string
	ID    string
	Label string
	// Hint is the schema's description; Limits says what the value may be.
	Hint   string
	Limits string
	// Kind is text, textarea, number, checkbox, tristate, select,
	// object, array or raw.
	Kind     string
	Required bool
	// Mark renders the hidden marker that tells an unticked box from an
	// absent one.
	Mark      bool
	Value     string
	Checked   bool
	Options   []option
	MinLength int
	MaxLength int
	Min, Max  string
	Step      string
	Children  []*field
	Items     []*field
	// Template is an empty row of an array, for the script to clone; its
	// names hold Placeholder where the new index goes.
	Template    *field
	Placeholder string
	NextIndex   int
	// Removable marks an array row (it gets a remove button).
	Removable bool
	// AddLabel is the text of an array's add button.
	AddLabel string
	CanAdd   bool
	Problems []string
	Depth    int
}

type option struct {
	Value, Label string
	Selected     bool
}

// HeadingLevel is the heading of a group, h3 and below.
func (f *field) HeadingLevel() int { return min(3+f.Depth, 6) }

// DescribedBy lists the ids of the texts that describe the input.
func (f *field) DescribedBy() string {
	var ids []string
	if f.Hint != "" || f.Limits != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if len(f.Problems) > 0 {
		ids = append(ids, f.ID+"-err")
	}
	return strings.Join(ids, " ")
}

// editorBuilder builds the field tree of one work item's editor.
type editorBuilder struct {
	// prefix makes ids unique on a page holding several editors.
	prefix string
	fields map[string]*field
}

// buildEditor returns the editor of a document with the schema, filled
// with doc (nil: empty), the QA problems placed at the fields they name
// and the rest (about no rendered field) returned apart.
func buildEditor(prefix string, n *schemaNode, doc any, problems []string) (*field, []string) {
	b := &editorBuilder{prefix: prefix, fields: map[string]*field{}}
	root := b.build(n, docRoot, "Document", doc, true, 0, 0)
	var general []string
	for _, text := range problems {
		p, msg := problemPath(text)
		if msg == "" {
			msg = text
		}
		f := b.nearest(p)
		if f == nil || f == root {
			general = append(general, text)
			if f == root {
				root.Problems = append(root.Problems, msg)
			}
			continue
		}
		if f.Path != p {
			msg = text // said about a part the form does not show: keep its path
		}
		f.Problems = append(f.Problems, msg)
	}
	return root, general
}

// nearest returns the field at p or its closest rendered ancestor.
func (b *editorBuilder) nearest(p string) *field {
	for {
		if f, ok := b.fields[p]; ok {
			return f
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

func (b *editorBuilder) id(p string) string {
	r := strings.NewReplacer("/", "-", "~", "_", "#", "_")
	return b.prefix + "-" + r.Replace(p)
}

// build makes the field for the value at p. mandatory says whether the
// browser should insist on it (every enclosing object requires it).
func (b *editorBuilder) build(n *schemaNode, p, label string, v any, mandatory bool, depth, arrayDepth int) *field {
	f := &field{Path: p, ID: b.id(p), Label: label, Hint: n.Description, Depth: depth}
	b.fields[p] = f
	if n.Title != "" && p != docRoot {
		f.Label = n.Title
	}
	if n.Raw {
		f.Kind = "raw"
		f.Limits = "JSON"
		if v != nil {
			out, _ := json.MarshalIndent(v, "", "  ")
			f.Value = string(out)
		}
		return f
	}
	switch n.Type {
	case "object":
		f.Kind = "object"
		obj, _ := v.(map[string]any)
		for _, pr := range n.Props {
			req := n.isRequired(pr.Name)
			child := b.build(pr.Node, childPath(p, pr.Name), humanize(pr.Name), obj[pr.Name], mandatory && req, depth+1, arrayDepth)
			if req {
				child.Label += " (required)"
			}
			f.Children = append(f.Children, child)
		}
	case "array":
		f.Kind = "array"
		f.Limits = countLimits(n.MinItems, n.MaxItems)
		arr, _ := v.([]any)
		if v == nil && mandatory && n.MinItems != nil {
			// A new document starts with the rows it needs at least.
			arr = make([]any, min(*n.MinItems, 5))
		}
		singular := singularOf(label)
		f.AddLabel = "Add " + strings.ToLower(singular[:1]) + singular[1:]
		for i, item := range arr {
			row := b.build(n.Items, childPath(p, strconv.Itoa(i)), fmt.Sprintf("%s %d", singular, i+1), item, true, depth+1, arrayDepth+1)
			row.Removable = true
			f.Items = append(f.Items, row)
		}
		f.NextIndex = len(arr)
		f.CanAdd = n.MaxItems == nil || len(arr) < *n.MaxItems
		f.Placeholder = fmt.Sprintf("__i%d__", arrayDepth)
		tb := &editorBuilder{prefix: b.prefix, fields: map[string]*field{}}
		f.Template = tb.build(n.Items, childPath(p, f.Placeholder), fmt.Sprintf("%s __n%d__", singular, arrayDepth), nil, true, depth+1, arrayDepth+1)
		f.Template.Removable = true
	case "boolean":
		if mandatory {
			f.Kind, f.Mark = "checkbox", true
			f.Checked = v == true
		} else {
			f.Kind = "tristate"
			f.Options = []option{{Value: "", Label: "— not set —"}, {Value: "true", Label: "Yes", Selected: v == true}, {Value: "false", Label: "No", Selected: v == false}}
		}
	case "enum":
		f.Kind, f.Required = "select", mandatory
		empty := "— not set —"
		if mandatory {
			empty = "Choose…"
		}
		f.Options = []option{{Value: "", Label: empty}}
		cur := ""
		if v != nil {
			b, _ := json.Marshal(v)
			cur = string(b)
		}
		for _, e := range n.Enum {
			val := string(e)
			var s string
			lbl := val
			if json.Unmarshal(e, &s) == nil {
				lbl = humanize(s)
			}
			f.Options = append(f.Options, option{Value: val, Label: lbl, Selected: val == cur})
		}
	case "integer", "number":
		f.Kind, f.Required = "number", mandatory
		f.Step = "any"
		if n.Type == "integer" {
			f.Step = "1"
		}
		if n.Minimum != nil {
			f.Min = strconv.FormatFloat(*n.Minimum, 'f', -1, 64)
		}
		if n.Maximum != nil {
			f.Max = strconv.FormatFloat(*n.Maximum, 'f', -1, 64)
		}
		if v != nil {
			f.Value = fmt.Sprint(v)
		}
	default: // string
		f.Kind = "text"
		if n.MaxLength == nil || *n.MaxLength > 300 {
			f.Kind = "textarea"
		}
		if n.MinLength != nil {
			f.MinLength = *n.MinLength
		}
		if n.MaxLength != nil {
			f.MaxLength = *n.MaxLength
		}
		f.Required = mandatory && f.MinLength > 0
		f.Limits = lengthLimits(n.MinLength, n.MaxLength)
		if n.Pattern != "" {
			f.Limits = strings.TrimPrefix(f.Limits+"; an identifier: letters, digits, '_', '.' or '-'", "; ")
		}
		switch s := v.(type) {
		case string:
			f.Value = s
		case nil:
		default:
			out, _ := json.Marshal(s)
			f.Value = string(out)
		}
	}
	return f
}

func lengthLimits(lo, hi *int) string {
	switch {
	case lo != nil && *lo > 0 && hi != nil:
		return fmt.Sprintf("%d to %d characters", *lo, *hi)
	case hi != nil:
		return fmt.Sprintf("up to %d characters", *hi)
	case lo != nil && *lo > 0:
		return fmt.Sprintf("at least %d characters", *lo)
	}
	return ""
}

func countLimits(lo, hi *int) string {
	switch {
	case lo != nil && *lo > 0 && hi != nil:
		return fmt.Sprintf("%d to %d items", *lo, *hi)
	case hi != nil:
		return fmt.Sprintf("up to %d items", *hi)
	case lo != nil && *lo > 0:
		return fmt.Sprintf("at least %d items", *lo)
	}
	return ""
}

// humanize turns a member name into a label: "problem_statement" →
// "Problem statement".
func humanize(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "_", " "))
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// singularOf names one row of a list labelled plural: "Goals" → "Goal".
func singularOf(label string) string {
	label = strings.TrimSuffix(label, " (required)")
	switch {
	case strings.HasSuffix(label, "ies"):
		return strings.TrimSuffix(label, "ies") + "y"
	case strings.HasSuffix(label, "sses"):
		return strings.TrimSuffix(label, "es")
	case strings.HasSuffix(label, "s") && !strings.HasSuffix(label, "ss"):
		return strings.TrimSuffix(label, "s")
	}
	return label
}

// sortedKeys returns m's keys in order, for documents without a schema.
func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
