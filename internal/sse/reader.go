// Package sse reads a text/event-stream (Server-Sent Events) the way a
// browser's EventSource does, for tests and tools that follow an
// execution's events.
package sse

import (
	"bufio"
	"io"
	"strings"
)

// Message is one dispatched event, or a comment line (Comment set).
type Message struct {
	ID      string
	Event   string
	Data    string
	Retry   string
	Comment string
}

// Reader parses messages from a stream.
type Reader struct {
	sc *bufio.Scanner
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &Reader{sc: sc}
}

// Next returns the next event or comment; io.EOF when the stream ended
// cleanly.
func (r *Reader) Next() (*Message, error) {
	var m Message
	var data []string
	has := false
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if has {
				m.Data = strings.Join(data, "\n")
				return &m, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			if has {
				continue // a comment inside an event is ignored, as by EventSource
			}
			return &Message{Comment: strings.TrimPrefix(strings.TrimPrefix(line, ":"), " ")}, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			m.ID, has = value, true
		case "event":
			m.Event, has = value, true
		case "data":
			data, has = append(data, value), true
		case "retry":
			m.Retry = value
		}
	}
	if err := r.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}
