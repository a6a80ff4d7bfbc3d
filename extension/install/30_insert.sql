-- Recording usage: usage_log_insert (C hot path) and the provider-usage normaliser.

CREATE FUNCTION @extschema@.usage_log_insert(
    user_id               text,
    model                 text,
    input_tokens          bigint      DEFAULT 0,
    output_tokens         bigint      DEFAULT 0,
    cache_read_tokens     bigint      DEFAULT 0,
    cache_write_tokens    bigint      DEFAULT 0,
    cache_write_1h_tokens bigint      DEFAULT 0,
    reasoning_tokens      bigint      DEFAULT 0,
    provider              text        DEFAULT NULL,
    endpoint              text        DEFAULT NULL,
    request_type          text        DEFAULT 'chat',
    session_id            text        DEFAULT NULL,
    message_id            text        DEFAULT NULL,
    request_id            text        DEFAULT NULL,
    occurred_at           timestamptz DEFAULT pg_catalog.now(),
    latency_ms            integer     DEFAULT NULL,
    success               boolean     DEFAULT true,
    error_type            text        DEFAULT NULL,
    metadata              jsonb       DEFAULT NULL,
    service_tier          text        DEFAULT 'standard',
    reservation_id        bigint      DEFAULT NULL
) RETURNS bigint
AS 'MODULE_PATHNAME', 'usage_log_insert'
LANGUAGE C VOLATILE PARALLEL UNSAFE
-- Definer rights so apps need no table privileges; the pinned search_path
-- and fully qualified internal queries keep callers from hijacking it.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.usage_log_insert(text, text, bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, bigint) IS
'Records one LLM call and returns its event id. Validates every argument, deduplicates by request_id (a repeated id records nothing and returns the original event id) and is durable once the transaction commits. Returns NULL when tokenledger.enabled is off. reservation_id settles a quota_reserve hold: the recorded usage replaces the estimate';

REVOKE ALL ON FUNCTION @extschema@.usage_log_insert(text, text, bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_log_insert(text, text, bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, bigint)
    TO tokenledger_writer, tokenledger_admin;

-- Reads one token count out of a provider usage object: absent or null is 0,
-- anything but a non-negative integer is an error naming the field.
CREATE FUNCTION @extschema@.usage_json_token_count(usage jsonb, field text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v jsonb := usage -> field;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^[0-9]+$' THEN
        RAISE EXCEPTION 'usage field "%" must be a non-negative integer, got %', field, v
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the provider''s usage object unchanged; token counts are whole numbers.';
    END IF;
    RETURN (v #>> '{}')::bigint;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_json_token_count(jsonb, text) IS
'Internal: a token count from a usage object; 0 when absent, an error when not a non-negative integer';
REVOKE ALL ON FUNCTION @extschema@.usage_json_token_count(jsonb, text) FROM PUBLIC;

-- The single source of truth for mapping provider usage objects onto the six
-- disjoint buckets (the C++ client calls it too).
CREATE FUNCTION @extschema@.usage_normalize(
    usage        jsonb,
    provider     text DEFAULT NULL,
    usage_format text DEFAULT NULL,
    OUT input_tokens bigint, OUT output_tokens bigint,
    OUT cache_read_tokens bigint, OUT cache_write_tokens bigint,
    OUT cache_write_1h_tokens bigint, OUT reasoning_tokens bigint,
    OUT detected_format text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    fmt   text := lower(usage_format);
    prov  text := lower(provider);
    total bigint; cached bigint; thoughts bigint; details jsonb; out_details jsonb;
BEGIN
    IF usage IS NULL OR jsonb_typeof(usage) <> 'object' THEN
        RAISE EXCEPTION 'usage must be a JSON object, got %', coalesce(jsonb_typeof(usage), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the "usage" (or "usageMetadata") object from the provider''s response.';
    END IF;

    IF fmt IS NULL THEN
        fmt := CASE
            WHEN usage ?| ARRAY['prompt_tokens', 'completion_tokens'] THEN 'openai_chat'
            WHEN usage ?| ARRAY['promptTokenCount', 'candidatesTokenCount', 'prompt_token_count', 'candidates_token_count'] THEN 'gemini'
            WHEN usage ?| ARRAY['inputTokens', 'outputTokens', 'promptTokens', 'completionTokens'] THEN 'vercel_ai'
            WHEN usage ?| ARRAY['cache_creation_input_tokens', 'cache_read_input_tokens', 'cache_creation'] THEN 'anthropic'
            WHEN usage ?| ARRAY['input_tokens_details', 'output_tokens_details'] THEN 'openai_responses'
            WHEN usage ? 'input_tokens' AND prov = 'anthropic' THEN 'anthropic'
            WHEN usage ? 'input_tokens' AND prov IN ('openai', 'azure', 'azure_openai') THEN 'openai_responses'
        END;
        IF fmt IS NULL THEN
            RAISE EXCEPTION 'cannot tell which provider''s usage format this is'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Keys: %s.', (SELECT string_agg(k, ', ') FROM jsonb_object_keys(usage) k)),
                      HINT = 'Pass usage_format => one of openai_chat, openai_responses, anthropic, gemini, vercel_ai.';
        END IF;
    END IF;
    detected_format := fmt;

    CASE fmt
    WHEN 'openai_chat', 'openai_responses' THEN
        -- OpenAI: the prompt count includes cached tokens and the completion
        -- count includes reasoning tokens; split them out.
        IF fmt = 'openai_chat' THEN
            total := @extschema@.usage_json_token_count(usage, 'prompt_tokens');
            output_tokens := @extschema@.usage_json_token_count(usage, 'completion_tokens');
            details := usage -> 'prompt_tokens_details';
            out_details := usage -> 'completion_tokens_details';
        ELSE
            total := @extschema@.usage_json_token_count(usage, 'input_tokens');
            output_tokens := @extschema@.usage_json_token_count(usage, 'output_tokens');
            details := usage -> 'input_tokens_details';
            out_details := usage -> 'output_tokens_details';
        END IF;
        cached := CASE WHEN jsonb_typeof(details) = 'object'
                       THEN @extschema@.usage_json_token_count(details, 'cached_tokens') ELSE 0 END;
        reasoning_tokens := CASE WHEN jsonb_typeof(out_details) = 'object'
                       THEN @extschema@.usage_json_token_count(out_details, 'reasoning_tokens') ELSE 0 END;
        IF cached > total OR reasoning_tokens > output_tokens THEN
            RAISE EXCEPTION 'inconsistent OpenAI usage: cached tokens exceed input or reasoning tokens exceed output'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'cached_tokens is part of the input count and reasoning_tokens part of the output count.';
        END IF;
        input_tokens := total - cached;
        cache_read_tokens := cached;
        output_tokens := output_tokens - reasoning_tokens;
        cache_write_tokens := 0;
        cache_write_1h_tokens := 0;

    WHEN 'anthropic' THEN
        -- Anthropic: input_tokens already excludes cache reads and writes.
        input_tokens := @extschema@.usage_json_token_count(usage, 'input_tokens');
        output_tokens := @extschema@.usage_json_token_count(usage, 'output_tokens');
        cache_read_tokens := @extschema@.usage_json_token_count(usage, 'cache_read_input_tokens');
        IF jsonb_typeof(usage -> 'cache_creation') = 'object' THEN
            cache_write_tokens := @extschema@.usage_json_token_count(usage -> 'cache_creation', 'ephemeral_5m_input_tokens');
            cache_write_1h_tokens := @extschema@.usage_json_token_count(usage -> 'cache_creation', 'ephemeral_1h_input_tokens');
        ELSE
            cache_write_tokens := @extschema@.usage_json_token_count(usage, 'cache_creation_input_tokens');
            cache_write_1h_tokens := 0;
        END IF;
        reasoning_tokens := 0;

    WHEN 'gemini' THEN
        -- Gemini: promptTokenCount includes cachedContentTokenCount; thoughts
        -- and tool-use prompt tokens are reported separately.
        IF usage ? 'prompt_token_count' OR usage ? 'candidates_token_count' THEN
            total := @extschema@.usage_json_token_count(usage, 'prompt_token_count');
            cached := @extschema@.usage_json_token_count(usage, 'cached_content_token_count');
            output_tokens := @extschema@.usage_json_token_count(usage, 'candidates_token_count');
            thoughts := @extschema@.usage_json_token_count(usage, 'thoughts_token_count');
            total := total + @extschema@.usage_json_token_count(usage, 'tool_use_prompt_token_count');
        ELSE
            total := @extschema@.usage_json_token_count(usage, 'promptTokenCount');
            cached := @extschema@.usage_json_token_count(usage, 'cachedContentTokenCount');
            output_tokens := @extschema@.usage_json_token_count(usage, 'candidatesTokenCount');
            thoughts := @extschema@.usage_json_token_count(usage, 'thoughtsTokenCount');
            total := total + @extschema@.usage_json_token_count(usage, 'toolUsePromptTokenCount');
        END IF;
        IF cached > total THEN
            RAISE EXCEPTION 'inconsistent Gemini usage: cachedContentTokenCount exceeds promptTokenCount'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'cachedContentTokenCount is part of promptTokenCount.';
        END IF;
        input_tokens := total - cached;
        cache_read_tokens := cached;
        reasoning_tokens := thoughts;
        cache_write_tokens := 0;
        cache_write_1h_tokens := 0;

    WHEN 'vercel_ai' THEN
        -- Vercel AI SDK LanguageModelUsage: v4 promptTokens/completionTokens,
        -- v5 inputTokens/outputTokens (+ cachedInputTokens, reasoningTokens,
        -- both included in the totals), v6 inputTokenDetails/outputTokenDetails.
        total := greatest(@extschema@.usage_json_token_count(usage, 'inputTokens'),
                          @extschema@.usage_json_token_count(usage, 'promptTokens'));
        output_tokens := greatest(@extschema@.usage_json_token_count(usage, 'outputTokens'),
                                  @extschema@.usage_json_token_count(usage, 'completionTokens'));
        details := usage -> 'inputTokenDetails';
        out_details := usage -> 'outputTokenDetails';
        IF jsonb_typeof(details) = 'object' THEN
            cache_read_tokens := @extschema@.usage_json_token_count(details, 'cacheReadTokens');
            cache_write_tokens := @extschema@.usage_json_token_count(details, 'cacheWriteTokens');
        ELSE
            cache_read_tokens := @extschema@.usage_json_token_count(usage, 'cachedInputTokens');
            cache_write_tokens := 0;
        END IF;
        IF jsonb_typeof(out_details) = 'object' THEN
            reasoning_tokens := @extschema@.usage_json_token_count(out_details, 'reasoningTokens');
        ELSE
            reasoning_tokens := @extschema@.usage_json_token_count(usage, 'reasoningTokens');
        END IF;
        IF cache_read_tokens + cache_write_tokens > total OR reasoning_tokens > output_tokens THEN
            RAISE EXCEPTION 'inconsistent AI SDK usage: cached tokens exceed input or reasoning tokens exceed output'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'inputTokens includes cached tokens and outputTokens includes reasoning tokens.';
        END IF;
        input_tokens := total - cache_read_tokens - cache_write_tokens;
        output_tokens := output_tokens - reasoning_tokens;
        cache_write_1h_tokens := 0;

    ELSE
        RAISE EXCEPTION 'unknown usage format "%"', usage_format
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of openai_chat, openai_responses, anthropic, gemini, vercel_ai, or NULL to detect it.';
    END CASE;
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_normalize(jsonb, text, text) IS
'Maps a provider''s raw usage object (OpenAI Chat Completions or Responses, Anthropic Messages, Gemini, Vercel AI SDK) onto the six disjoint token buckets; detects the format from its keys unless usage_format is given';
GRANT EXECUTE ON FUNCTION @extschema@.usage_normalize(jsonb, text, text) TO PUBLIC;

CREATE FUNCTION @extschema@.usage_log_insert_usage(
    user_id      text,
    provider     text,
    model        text,
    usage        jsonb,
    endpoint     text        DEFAULT NULL,
    request_type text        DEFAULT 'chat',
    session_id   text        DEFAULT NULL,
    message_id   text        DEFAULT NULL,
    request_id   text        DEFAULT NULL,
    occurred_at  timestamptz DEFAULT pg_catalog.now(),
    latency_ms   integer     DEFAULT NULL,
    success      boolean     DEFAULT true,
    error_type   text        DEFAULT NULL,
    metadata     jsonb       DEFAULT NULL,
    service_tier text        DEFAULT 'standard',
    usage_format text        DEFAULT NULL,
    reservation_id bigint    DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    b record;
BEGIN
    b := @extschema@.usage_normalize(usage, provider, usage_format);
    RETURN @extschema@.usage_log_insert(
        user_id => user_id, model => model,
        input_tokens => b.input_tokens, output_tokens => b.output_tokens,
        cache_read_tokens => b.cache_read_tokens, cache_write_tokens => b.cache_write_tokens,
        cache_write_1h_tokens => b.cache_write_1h_tokens, reasoning_tokens => b.reasoning_tokens,
        provider => provider, endpoint => endpoint, request_type => request_type,
        session_id => session_id, message_id => message_id, request_id => request_id,
        occurred_at => occurred_at, latency_ms => latency_ms, success => success,
        error_type => error_type, metadata => metadata, service_tier => service_tier,
        reservation_id => reservation_id);
END
$fn$;
COMMENT ON FUNCTION @extschema@.usage_log_insert_usage(text, text, text, jsonb, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, text, bigint) IS
'Records one LLM call from the provider''s raw usage object (normalised by usage_normalize) and returns its event id; otherwise behaves exactly like usage_log_insert';
REVOKE ALL ON FUNCTION @extschema@.usage_log_insert_usage(text, text, text, jsonb, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_log_insert_usage(text, text, text, jsonb, text, text, text, text, text, timestamptz, integer, boolean, text, jsonb, text, text, bigint)
    TO tokenledger_writer, tokenledger_admin;
