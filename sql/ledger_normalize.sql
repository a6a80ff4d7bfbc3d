-- Golden tests: each provider's usage object maps onto the disjoint buckets.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS tokenledger CASCADE;
CREATE EXTENSION tokenledger;
RESET client_min_messages;

-- OpenAI Chat Completions: prompt_tokens includes cached_tokens,
-- completion_tokens includes reasoning_tokens.
SELECT * FROM usage_normalize('{"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
  "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
  "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0}}');
-- OpenAI Chat Completions without details.
SELECT * FROM usage_normalize('{"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}');
-- OpenAI Responses API.
SELECT * FROM usage_normalize('{"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
  "output_tokens": 1200, "output_tokens_details": {"reasoning_tokens": 1024}, "total_tokens": 6200}');
-- Anthropic Messages: input_tokens excludes cache reads and writes.
SELECT * FROM usage_normalize('{"input_tokens": 21, "cache_creation_input_tokens": 188086,
  "cache_read_input_tokens": 0, "output_tokens": 393}');
-- Anthropic with the 5-minute / 1-hour cache-write breakdown.
SELECT * FROM usage_normalize('{"input_tokens": 50, "cache_creation_input_tokens": 3000,
  "cache_read_input_tokens": 10000, "output_tokens": 500,
  "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}}');
-- Anthropic minimal object: needs the provider to tell it from OpenAI Responses.
SELECT * FROM usage_normalize('{"input_tokens": 10, "output_tokens": 5}', 'anthropic');
SELECT * FROM usage_normalize('{"input_tokens": 10, "output_tokens": 5}', 'openai');
-- Gemini: promptTokenCount includes cachedContentTokenCount; thoughts are separate.
SELECT * FROM usage_normalize('{"promptTokenCount": 1000, "cachedContentTokenCount": 600,
  "candidatesTokenCount": 200, "thoughtsTokenCount": 150, "totalTokenCount": 1350}');
-- Gemini, Python SDK snake_case, with tool-use prompt tokens (billed as input).
SELECT * FROM usage_normalize('{"prompt_token_count": 800, "candidates_token_count": 40,
  "tool_use_prompt_token_count": 25, "total_token_count": 865}');
-- Vercel AI SDK v4.
SELECT * FROM usage_normalize('{"promptTokens": 120, "completionTokens": 30, "totalTokens": 150}');
-- Vercel AI SDK v5: inputTokens includes cachedInputTokens, outputTokens includes reasoningTokens.
SELECT * FROM usage_normalize('{"inputTokens": 900, "outputTokens": 400, "totalTokens": 1300,
  "reasoningTokens": 250, "cachedInputTokens": 512}');
-- Vercel AI SDK v6 detail objects.
SELECT * FROM usage_normalize('{"inputTokens": 900, "outputTokens": 400,
  "inputTokenDetails": {"noCacheTokens": 300, "cacheReadTokens": 500, "cacheWriteTokens": 100},
  "outputTokenDetails": {"textTokens": 150, "reasoningTokens": 250}}');
-- An explicit format wins over detection.
SELECT * FROM usage_normalize('{"input_tokens": 10, "output_tokens": 5}', NULL, 'anthropic');

-- usage_log_insert_usage records the normalised buckets and the other fields.
SELECT usage_log_insert_usage('u1', 'openai', 'o3', '{"prompt_tokens": 2006, "completion_tokens": 300,
  "prompt_tokens_details": {"cached_tokens": 1920}, "completion_tokens_details": {"reasoning_tokens": 192}}',
  endpoint => 'chat', request_id => 'norm-1', latency_ms => 950) AS id \gset
SELECT provider, model, endpoint, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens,
       total_tokens, latency_ms
FROM usage_events WHERE event_id = :id;
-- Its retry deduplicates like usage_log_insert.
SELECT usage_log_insert_usage('u1', 'openai', 'o3', '{"prompt_tokens": 1, "completion_tokens": 1}',
  request_id => 'norm-1') = :id AS same_event;
