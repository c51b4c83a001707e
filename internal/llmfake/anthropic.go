package llmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

type anthropicBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type anthropicRequest struct {
	Model     string           `json:"model"`
	Stream    bool             `json:"stream"`
	MaxTokens int64            `json:"max_tokens"`
	System    []anthropicBlock `json:"system"`
	Messages  []struct {
		Role    string           `json:"role"`
		Content []anthropicBlock `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name         string          `json:"name"`
		InputSchema  json.RawMessage `json:"input_schema"`
		CacheControl json.RawMessage `json:"cache_control"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

// NewAnthropic starts a server speaking the Messages API (POST
// /v1/messages), plain or streamed as the request asks.
func NewAnthropic(t testing.TB, h Handler) *Server {
	return newServer(t, h, serveAnthropic)
}

func serveAnthropic(s *Server, w http.ResponseWriter, r *http.Request, c *Call) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		anthropicError(w, http.StatusNotFound, "not_found_error", "no route "+r.URL.Path, "")
		return
	}
	var req anthropicRequest
	if err := json.Unmarshal(c.Body, &req); err != nil || req.Model == "" || req.MaxTokens <= 0 || len(req.Messages) == 0 {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("malformed request: %v", err), "")
		return
	}
	// The prompt in the order the provider caches it: tools, system,
	// messages; a prefix ends at each cache_control breakpoint.
	var prompt string
	var breakpoints []string
	for _, tool := range req.Tools {
		b, _ := json.Marshal(tool)
		prompt += string(b)
		c.Tools = append(c.Tools, tool.Name)
		if len(tool.CacheControl) > 0 {
			breakpoints = append(breakpoints, prompt)
		}
	}
	var texts []string
	for _, b := range req.System {
		prompt += b.Text
		texts = append(texts, b.Text)
		if len(b.CacheControl) > 0 {
			breakpoints = append(breakpoints, prompt)
		}
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			prompt += b.Text
			texts = append(texts, b.Text)
			c.Instruction = b.Text
			if len(b.CacheControl) > 0 {
				breakpoints = append(breakpoints, prompt)
			}
		}
	}
	if len(breakpoints) > 4 {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "A maximum of 4 blocks with cache_control may be provided.", "")
		return
	}
	c.Model, c.Stream, c.Text, c.DocumentType = req.Model, req.Stream, joinTexts(texts), documentType(c.Instruction)
	rep := s.handler(c)
	if rep.Status != 0 && rep.Status != http.StatusOK {
		if !wait(r, rep.Delay) {
			s.abandoned()
			return
		}
		typ := map[int]string{429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error", 401: "authentication_error"}[rep.Status]
		if typ == "" {
			typ = "api_error"
		}
		anthropicError(w, rep.Status, typ, "scripted failure", rep.RetryAfter)
		return
	}
	usage := s.anthropicCache(req.Model, prompt, breakpoints)

	block := map[string]any{"type": "text", "text": rep.Text}
	var payload string
	stop := "end_turn"
	switch {
	case rep.Document != nil:
		block = map[string]any{"type": "tool_use", "id": "toolu_" + strconv.Itoa(c.N), "name": "submit_document", "input": json.RawMessage(rep.Document)}
		payload, stop = string(rep.Document), "tool_use"
	case rep.Questions != nil:
		block = map[string]any{"type": "tool_use", "id": "toolu_" + strconv.Itoa(c.N), "name": "ask_clarification", "input": json.RawMessage(rep.Questions)}
		payload, stop = string(rep.Questions), "tool_use"
	default:
		payload = rep.Text
	}
	usage.OutputTokens = Tokens(payload)
	if rep.OutputTokens > 0 {
		usage.OutputTokens = rep.OutputTokens
	}
	msgUsage := func(out int64) map[string]any {
		return map[string]any{"input_tokens": usage.InputTokens - usage.CacheReadTokens - usage.CacheWriteTokens,
			"cache_creation_input_tokens": usage.CacheWriteTokens, "cache_read_input_tokens": usage.CacheReadTokens, "output_tokens": out}
	}
	id := fmt.Sprintf("msg_%d", c.N)
	if !req.Stream {
		if !wait(r, rep.Delay) || rep.Hang && !wait(r, 1<<62) {
			s.abandoned()
			return
		}
		s.report(usage)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": msgUsage(usage.OutputTokens)})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	writeSSE(w, "message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": id, "type": "message",
		"role": "assistant", "model": req.Model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": msgUsage(1)}})
	if rep.Hang {
		wait(r, 1<<62)
		s.abandoned()
		return
	}
	start := map[string]any{"type": block["type"]}
	delta := "text_delta"
	if block["type"] == "tool_use" {
		start = map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}
		delta = "input_json_delta"
	} else {
		start["text"] = ""
	}
	writeSSE(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": start})
	parts := chunks(payload, 5)
	began := time.Now()
	for i, p := range parts {
		// Paced from the start, so timer slack does not add up.
		if !wait(r, time.Until(began.Add(rep.Delay*time.Duration(i+1)/time.Duration(len(parts))))) {
			s.abandoned()
			return
		}
		d := map[string]any{"type": delta}
		if delta == "text_delta" {
			d["text"] = p
		} else {
			d["partial_json"] = p
		}
		writeSSE(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": d})
	}
	writeSSE(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	writeSSE(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": usage.OutputTokens}})
	s.report(usage)
	writeSSE(w, "message_stop", map[string]any{"type": "message_stop"})
}

// anthropicCache applies prompt caching as Anthropic documents it: the
// longest cached breakpoint prefix is read, the rest up to the last
// breakpoint is written, prefixes shorter than MinCacheTokens are not
// cached; the tokens after the last breakpoint are plain input.
func (s *Server) anthropicCache(model, prompt string, breakpoints []string) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{InputTokens: Tokens(prompt)}
	for i := len(breakpoints) - 1; i >= 0; i-- {
		if s.cache[hash(model+"\x00"+breakpoints[i])] {
			u.CacheReadTokens = Tokens(breakpoints[i])
			break
		}
	}
	if n := len(breakpoints); n > 0 && Tokens(breakpoints[n-1]) >= s.MinCacheTokens && Tokens(breakpoints[n-1]) > u.CacheReadTokens {
		u.CacheWriteTokens = Tokens(breakpoints[n-1]) - u.CacheReadTokens
	}
	for _, b := range breakpoints {
		if Tokens(b) >= s.MinCacheTokens {
			s.cache[hash(model+"\x00"+b)] = true
		}
	}
	return u
}

func anthropicError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
}
