package sse_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/thecombine/combine/internal/sse"
)

func TestReader(t *testing.T) {
	in := "retry: 2000\n\n: keepalive\n\nid: 1\nevent: step_started\ndata: {\"a\":1}\n\n" +
		"data: line one\ndata:line two\n: ignored inside an event\n\nid: 3\nevent: x\ndata: y"
	r := sse.NewReader(strings.NewReader(in))
	want := []sse.Message{
		{Comment: "keepalive"},
		{ID: "1", Event: "step_started", Data: `{"a":1}`},
		{Data: "line one\nline two"},
	}
	for i, w := range want {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if *m != w {
			t.Fatalf("message %d = %+v, want %+v", i, *m, w)
		}
	}
	// An event cut off before its blank line is not dispatched, as in EventSource.
	if m, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last complete event: %+v, %v; want io.EOF", m, err)
	}
}
