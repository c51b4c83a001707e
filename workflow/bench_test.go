package workflow

import (
	"context"
	"os"
	"testing"
)

// BenchmarkLoad measures a full start-up load of the built-ins: prompt
// hashes, schema compilation and validation.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateDocument measures the QA gate's schema check of a
// story backlog.
func BenchmarkValidateDocument(b *testing.B) {
	reg, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	doc, err := os.ReadFile("testdata/documents/story_backlog.json")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if ps, err := reg.ValidateDocument(ctx, spd, "story_backlog", doc); err != nil || len(ps) > 0 {
			b.Fatal(ps, err)
		}
	}
}
