package web_test

import (
	_ "embed"
	"encoding/json"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeJS is axe-core, vendored (see testdata/README.md): the accessibility
// check runs from the test's own files, never from a CDN.
//
//go:embed testdata/axe.min.js
var axeJS string

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// check saves a screenshot of the page (after opening path, if given)
// and fails the test on any serious or critical axe-core violation.
func check(b *tab, name string, path ...string) {
	b.t.Helper()
	if len(path) > 0 {
		b.open(path[0])
	}
	b.screenshot(name)
	if !evalIn[bool](b, `typeof window.axe === 'object'`) {
		evalIn[bool](b, axeJS+";true")
	}
	out := evalIn[string](b, `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.t.Fatalf("%s: axe result %q: %v", name, out, err)
	}
	for _, v := range vs {
		b.t.Errorf("%s (%s): accessibility %s violation %s: %s at %s", name, b.location(), v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "; "))
	}
}
