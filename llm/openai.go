package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// openaiProvider calls Chat Completions through the official SDK: OpenAI
// itself or any compatible server (OPENAI_BASE_URL).
type openaiProvider struct {
	client openai.Client
}

func newOpenAI(apiKey, baseURL string, hc *http.Client) *openaiProvider {
	if apiKey == "" {
		// A local server without authentication: the SDK still sends the
		// header, so give it a harmless value.
		apiKey = "none"
	}
	opts := []option.RequestOption{option.WithAPIKey(apiKey), option.WithMaxRetries(0)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if hc != nil {
		opts = append(opts, option.WithHTTPClient(hc))
	}
	return &openaiProvider{client: openai.NewClient(opts...)}
}

func (p *openaiProvider) name() string { return ProviderOpenAI }

// openaiContract maps the task prompts' answer format onto the envelope.
const openaiContract = `## How to deliver your answer here

Your reply is one JSON object {"document": …, "clarification": …} matching the response schema:
set exactly one of the two members and the other to null.`

// envelope is the response schema: the document or the clarification
// set. strict tells whether the strict form could be derived.
func envelope(r *Request) (schema map[string]any, strict bool, err error) {
	doc, err := cleanSchema(r.DocSchema)
	if err != nil {
		return nil, false, err
	}
	clar, err := cleanSchema(r.ClarSchema)
	if err != nil {
		return nil, false, err
	}
	sdoc, okDoc := strictSchema(doc)
	sclar, okClar := strictSchema(clar)
	if okDoc && okClar {
		return map[string]any{
			"type": "object",
			"properties": map[string]any{
				"document":      map[string]any{"anyOf": []any{sdoc, map[string]any{"type": "null"}}},
				"clarification": map[string]any{"anyOf": []any{sclar, map[string]any{"type": "null"}}},
			},
			"required":             []any{"document", "clarification"},
			"additionalProperties": false,
		}, true, nil
	}
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"document":      map[string]any{"anyOf": []any{doc, map[string]any{"type": "null"}}},
			"clarification": map[string]any{"anyOf": []any{clar, map[string]any{"type": "null"}}},
		},
		"additionalProperties": false,
	}, false, nil
}

// params builds the request: the stable prefix (system prompts, then the
// input documents) first, so OpenAI's automatic prefix caching applies.
func (p *openaiProvider) params(c *callSpec) (openai.ChatCompletionNewParams, bool, error) {
	r := c.req
	schema, strict, err := envelope(r)
	if err != nil {
		return openai.ChatCompletionNewParams{}, false, err
	}
	params := openai.ChatCompletionNewParams{
		Model: c.model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage(r.RolePrompt),
			openai.SystemMessage(r.TaskPrompt + "\n\n" + openaiContract),
			openai.UserMessage(r.Context),
			openai.UserMessage(r.Feedback + r.Instruction),
		},
		MaxCompletionTokens: openai.Int(c.maxTokens),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name: "answer", Schema: schema, Strict: openai.Bool(strict),
				Description: openai.String(fmt.Sprintf("The %s, or a clarification set.", r.DocumentName)),
			},
		}},
	}
	if c.stream {
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return params, strict, nil
}

func (p *openaiProvider) call(ctx context.Context, c *callSpec) (*callResult, error) {
	params, strict, err := p.params(c)
	if err != nil {
		return nil, err
	}
	opts := []option.RequestOption{option.WithMiddleware(captureBody(c.sent))}
	var cc openai.ChatCompletion
	if c.stream {
		stream := p.client.Chat.Completions.NewStreaming(ctx, params, opts...)
		acc := openai.ChatCompletionAccumulator{}
		var out int64
		for stream.Next() {
			chunk := stream.Current()
			acc.AddChunk(chunk)
			for _, ch := range chunk.Choices {
				out += estimateTokens(len(ch.Delta.Content) + len(ch.Delta.Refusal))
			}
			if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
				out = chunk.Usage.CompletionTokens
				c.progress(chunk.Usage.PromptTokens, out)
			} else {
				c.progress(0, out)
			}
		}
		err := stream.Err()
		stream.Close()
		if err != nil {
			return nil, openaiError(err)
		}
		cc = acc.ChatCompletion
		if len(cc.Choices) == 0 {
			return nil, &callError{retryable: true, err: errors.New("the stream ended without an answer")}
		}
	} else {
		res, err := p.client.Chat.Completions.New(ctx, params, opts...)
		if err != nil {
			return nil, openaiError(err)
		}
		cc = *res
	}
	res := &callResult{
		model: cc.Model,
		usage: Usage{
			// prompt_tokens includes the cached ones.
			InputTokens:     cc.Usage.PromptTokens,
			OutputTokens:    cc.Usage.CompletionTokens,
			CacheReadTokens: cc.Usage.PromptTokensDetails.CachedTokens,
		},
		answer: &answer{Format: formatEnvelope, Strict: strict},
	}
	if len(cc.Choices) > 0 {
		ch := cc.Choices[0]
		res.answer.Text, res.answer.Refusal = ch.Message.Content, ch.Message.Refusal
		if ch.FinishReason == "length" {
			res.answer.StopReason = "length"
		}
	}
	return res, nil
}

// openaiError classifies an SDK error.
func openaiError(err error) *callError {
	var oe *openai.Error
	if errors.As(err, &oe) {
		msg := oe.Message
		if msg == "" {
			msg = oe.RawJSON()
		}
		return classify(fmt.Errorf("openai: %d %s: %s", oe.StatusCode, oe.Type, snippet(msg)), oe.StatusCode, oe.Response)
	}
	return classify(err, 0, nil)
}
