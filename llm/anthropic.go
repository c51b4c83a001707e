package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
)

// anthropicProvider calls the Messages API through the official SDK.
type anthropicProvider struct {
	client anthropic.Client
}

func newAnthropic(apiKey, baseURL string, hc *http.Client) *anthropicProvider {
	opts := []option.RequestOption{
		// Our configuration decides, not the process environment.
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(apiKey),
		// The worker retries itself, within its budget and with Retry-After.
		option.WithMaxRetries(0),
	}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if hc != nil {
		opts = append(opts, option.WithHTTPClient(hc))
	}
	return &anthropicProvider{client: anthropic.NewClient(opts...)}
}

func (p *anthropicProvider) name() string { return ProviderAnthropic }

// params builds the Messages request. The stable prefix carries two cache
// breakpoints: after the system prompts (tools and system: shared by every
// step of the same role and task) and after the input documents (shared by
// every attempt of the step); the feedback and the instruction follow.
func (p *anthropicProvider) params(c *callSpec) (anthropic.MessageNewParams, error) {
	r := c.req
	docSchema, err := cleanSchema(r.DocSchema)
	if err != nil {
		return anthropic.MessageNewParams{}, err
	}
	clarSchema, err := cleanSchema(r.ClarSchema)
	if err != nil {
		return anthropic.MessageNewParams{}, err
	}
	docInput, err := inputSchema(docSchema)
	if err != nil {
		return anthropic.MessageNewParams{}, err
	}
	clarInput, err := inputSchema(clarSchema)
	if err != nil {
		return anthropic.MessageNewParams{}, err
	}
	ephemeral := anthropic.NewCacheControlEphemeralParam()
	tools := []anthropic.ToolUnionParam{
		{OfTool: &anthropic.ToolParam{
			Name:        toolDocument,
			Description: anthropic.String(fmt.Sprintf("Submit the %s: the tool's input is the document itself, matching the document type's JSON Schema.", r.DocumentName)),
			InputSchema: docInput,
		}},
		{OfTool: &anthropic.ToolParam{
			Name:        toolClarification,
			Description: anthropic.String("Ask the person running this step one to five clarification questions instead of writing the document, when your inputs are insufficient."),
			InputSchema: clarInput,
		}},
	}
	params := anthropic.MessageNewParams{
		Model:     c.model,
		MaxTokens: c.maxTokens,
		Tools:     tools,
		System: []anthropic.TextBlockParam{
			{Text: r.RolePrompt},
			{Text: r.TaskPrompt + "\n\n" + anthropicContract, CacheControl: ephemeral},
		},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.ContentBlockParamUnion{OfText: &anthropic.TextBlockParam{Text: r.Context, CacheControl: ephemeral}},
			anthropic.ContentBlockParamUnion{OfText: &anthropic.TextBlockParam{Text: r.Feedback + r.Instruction}},
		)},
	}
	if c.price.ToolChoice == "auto" {
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{DisableParallelToolUse: anthropic.Bool(true)}}
	} else {
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{DisableParallelToolUse: anthropic.Bool(true)}}
	}
	return params, nil
}

// anthropicContract maps the task prompts' answer format onto the tools.
const anthropicContract = `## How to deliver your answer here

Deliver your answer by calling exactly one tool, once:
- ` + toolDocument + ` — its input is the document itself (what the task calls the "document" object), matching the document type's JSON Schema;
- ` + toolClarification + ` — its input is {"questions": [...]}, the clarification set described above.
Do not answer in prose.`

// inputSchema turns a JSON schema object into the SDK's tool input
// schema, sent exactly as given: encoded once with sorted keys (the SDK's
// extra fields would be written in map order, and the request must be
// byte-identical for the same inputs).
func inputSchema(s map[string]any) (anthropic.ToolInputSchemaParam, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return anthropic.ToolInputSchemaParam{}, fmt.Errorf("encode tool schema: %w", err)
	}
	return param.Override[anthropic.ToolInputSchemaParam](json.RawMessage(b)), nil
}

func (p *anthropicProvider) call(ctx context.Context, c *callSpec) (*callResult, error) {
	params, err := p.params(c)
	if err != nil {
		return nil, err
	}
	opts := []option.RequestOption{option.WithMiddleware(captureBody(c.sent))}
	var msg anthropic.Message
	if c.stream {
		stream := p.client.Messages.NewStreaming(ctx, params, opts...)
		var out int64
		var inputs int64
		for stream.Next() {
			ev := stream.Current()
			if err := msg.Accumulate(ev); err != nil {
				stream.Close()
				return nil, &callError{retryable: true, err: fmt.Errorf("read the streamed answer: %w", err)}
			}
			switch ev.Type {
			case "message_start":
				inputs = ev.Message.Usage.InputTokens + ev.Message.Usage.CacheReadInputTokens + ev.Message.Usage.CacheCreationInputTokens
				c.progress(inputs, ev.Message.Usage.OutputTokens)
			case "content_block_delta":
				// No token counts arrive with deltas: estimate from the text.
				out += estimateTokens(len(ev.Delta.PartialJSON) + len(ev.Delta.Text) + len(ev.Delta.Thinking))
				c.progress(inputs, out)
			case "message_delta":
				c.progress(inputs, ev.Usage.OutputTokens)
			}
		}
		err := stream.Err()
		stream.Close()
		if err != nil {
			return nil, anthropicError(err)
		}
		if msg.ID == "" {
			return nil, &callError{retryable: true, err: errors.New("the stream ended without a message")}
		}
	} else {
		m, err := p.client.Messages.New(ctx, params, opts...)
		if err != nil {
			return nil, anthropicError(err)
		}
		msg = *m
	}
	u := msg.Usage
	res := &callResult{
		model: msg.Model,
		usage: Usage{
			// input_tokens counts only the tokens after the last cache
			// breakpoint: the prompt is all three together.
			InputTokens:      u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
			OutputTokens:     u.OutputTokens,
			CacheReadTokens:  u.CacheReadInputTokens,
			CacheWriteTokens: u.CacheCreationInputTokens,
		},
		answer: &answer{Format: formatTools, StopReason: string(msg.StopReason)},
	}
	var text []string
	for _, b := range msg.Content {
		switch b.Type {
		case "tool_use":
			if res.answer.Tool == "" {
				res.answer.Tool, res.answer.Input = b.Name, json.RawMessage(b.Input)
			}
		case "text":
			text = append(text, b.Text)
		}
	}
	res.answer.Text = strings.Join(text, "\n")
	if res.answer.Tool != "" && res.answer.StopReason == "tool_use" {
		res.answer.StopReason = ""
	}
	return res, nil
}

// anthropicError classifies an SDK error.
func anthropicError(err error) *callError {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return classify(fmt.Errorf("anthropic: %d %s: %s", ae.StatusCode, ae.Type(), snippet(ae.Message)), ae.StatusCode, ae.Response)
	}
	return classify(err, 0, nil)
}
