package llmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

type openaiRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string          `json:"name"`
			Strict bool            `json:"strict"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// NewOpenAI starts a server speaking Chat Completions (POST
// /chat/completions under the base URL), plain or streamed.
func NewOpenAI(t testing.TB, h Handler) *Server {
	return newServer(t, h, serveOpenAI)
}

func serveOpenAI(s *Server, w http.ResponseWriter, r *http.Request, c *Call) {
	if r.Method != http.MethodPost || r.URL.Path != "/chat/completions" {
		openaiError(w, http.StatusNotFound, "invalid_request_error", "no route "+r.URL.Path, "")
		return
	}
	var req openaiRequest
	if err := json.Unmarshal(c.Body, &req); err != nil || req.Model == "" || len(req.Messages) == 0 {
		openaiError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("malformed request: %v", err), "")
		return
	}
	if req.ResponseFormat.Type != "json_schema" || len(req.ResponseFormat.JSONSchema.Schema) == 0 {
		openaiError(w, http.StatusBadRequest, "invalid_request_error", "this fake expects response_format json_schema", "")
		return
	}
	var prompt string
	var texts []string
	for _, m := range req.Messages {
		prompt += m.Role + ":" + m.Content + "\n"
		texts = append(texts, m.Content)
		if m.Role == "user" {
			c.Instruction = m.Content
		}
	}
	c.Model, c.Stream, c.Text, c.DocumentType = req.Model, req.Stream, joinTexts(texts), documentType(c.Instruction)
	c.Strict = req.ResponseFormat.JSONSchema.Strict
	rep := s.handler(c)
	if rep.Status != 0 && rep.Status != http.StatusOK {
		if !wait(r, rep.Delay) {
			s.abandoned()
			return
		}
		typ := map[int]string{429: "rate_limit_exceeded", 400: "invalid_request_error", 401: "invalid_api_key"}[rep.Status]
		if typ == "" {
			typ = "server_error"
		}
		openaiError(w, rep.Status, typ, "scripted failure", rep.RetryAfter)
		return
	}
	usage := s.openaiCache(req.Model, prompt)
	content := rep.Text
	switch {
	case rep.Document != nil:
		content = fmt.Sprintf(`{"document":%s,"clarification":null}`, rep.Document)
	case rep.Questions != nil:
		content = fmt.Sprintf(`{"document":null,"clarification":%s}`, rep.Questions)
	}
	usage.OutputTokens = Tokens(content)
	if rep.OutputTokens > 0 {
		usage.OutputTokens = rep.OutputTokens
	}
	wireUsage := map[string]any{"prompt_tokens": usage.InputTokens, "completion_tokens": usage.OutputTokens,
		"total_tokens": usage.InputTokens + usage.OutputTokens, "prompt_tokens_details": map[string]any{"cached_tokens": usage.CacheReadTokens}}
	id := fmt.Sprintf("chatcmpl-%d", c.N)
	if !req.Stream {
		if !wait(r, rep.Delay) || rep.Hang && !wait(r, 1<<62) {
			s.abandoned()
			return
		}
		s.report(usage)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content, "refusal": nil},
				"finish_reason": "stop", "logprobs": nil}}, "usage": wireUsage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	writeSSE(w, "", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if rep.Hang {
		wait(r, 1<<62)
		s.abandoned()
		return
	}
	parts := chunks(content, 5)
	began := time.Now()
	for i, p := range parts {
		// Paced from the start, so timer slack does not add up.
		if !wait(r, time.Until(began.Add(rep.Delay*time.Duration(i+1)/time.Duration(len(parts))))) {
			s.abandoned()
			return
		}
		writeSSE(w, "", chunk(map[string]any{"content": p}, nil))
	}
	writeSSE(w, "", chunk(map[string]any{}, "stop"))
	if req.StreamOptions.IncludeUsage {
		writeSSE(w, "", map[string]any{"id": id, "object": "chat.completion.chunk", "created": 1, "model": req.Model,
			"choices": []any{}, "usage": wireUsage})
	}
	s.report(usage)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// openaiCache applies OpenAI's automatic prompt caching: the longest
// prefix shared with an earlier prompt of the model is served from cache,
// in steps of 128 tokens, once it reaches MinCacheTokens (1024).
func (s *Server) openaiCache(model, prompt string) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{InputTokens: Tokens(prompt)}
	key := model + "\x00" + prompt
	best := 0
	for _, p := range s.prompts {
		n := 0
		for n < len(p) && n < len(key) && p[n] == key[n] {
			n++
		}
		best = max(best, n-len(model)-1)
	}
	if cached := int64(best) / 4 / 128 * 128; cached >= s.MinCacheTokens {
		u.CacheReadTokens = cached
	}
	s.prompts = append(s.prompts, key)
	return u
}

func openaiError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": typ}})
}
