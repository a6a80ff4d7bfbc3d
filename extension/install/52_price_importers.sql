-- Importers for the two public price catalogs. Imported rows are admin rows
-- (not shipped): they override the shipped catalog for the times they cover
-- and pg_dump keeps them. Both importers go through price_set, so running
-- one again with the same catalog changes nothing.

-- Provider names of the public catalogs -> the names apps pass to usage_log_insert.
CREATE FUNCTION @extschema@.price_provider_name(source_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE lower(source_name)
               WHEN 'gemini' THEN 'google'
               WHEN 'vertex_ai-language-models' THEN 'google'
               WHEN 'x-ai' THEN 'xai'
               WHEN 'moonshotai' THEN 'moonshot'
               WHEN 'cohere_chat' THEN 'cohere'
               WHEN 'aws' THEN 'bedrock'
               WHEN 'text-completion-openai' THEN 'openai'
               ELSE lower(source_name)
           END
$fn$;
COMMENT ON FUNCTION @extschema@.price_provider_name(text) IS
'Maps a provider name used by LiteLLM or genai-prices (gemini, x-ai, moonshotai, ...) to the catalog''s provider name (google, xai, moonshot, ...)';
REVOKE ALL ON FUNCTION @extschema@.price_provider_name(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.price_provider_name(text) TO tokenledger_admin;

-- One upsert through price_set, classified as inserted / changed / unchanged.
CREATE FUNCTION @extschema@.price_import_row(
    provider text, model text, service_tier text, valid_from timestamptz,
    inp numeric, outp numeric, cr numeric, cw numeric, cw1h numeric, rs numeric,
    thr bigint, t_in numeric, t_out numeric, t_cr numeric, t_cw numeric, t_cw1h numeric, t_rs numeric,
    request_usd numeric, source text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tier "char" := CASE service_tier WHEN 'batch' THEN 'b' WHEN 'flex' THEN 'f' WHEN 'priority' THEN 'p' ELSE 's' END;
    v_before jsonb;
    v_after jsonb;
    v_id integer;
BEGIN
    SELECT to_jsonb(p) - 'price_id' INTO v_before
      FROM @extschema@.prices p JOIN @extschema@.price_models m USING (price_model_id)
     WHERE m.provider = price_import_row.provider AND m.model = price_import_row.model
       AND p.service_tier = v_tier AND NOT p.shipped AND p.valid_from = price_import_row.valid_from;
    v_id := @extschema@.price_set(provider, model, valid_from, inp, outp, cr, cw, cw1h, rs, service_tier,
                                  thr, t_in, t_out, t_cr, t_cw, t_cw1h, t_rs, request_usd, source);
    SELECT to_jsonb(p) - 'price_id' INTO v_after FROM @extschema@.prices p WHERE p.price_id = v_id;
    RETURN CASE WHEN v_before IS NULL THEN 'inserted' WHEN v_before = v_after THEN 'unchanged' ELSE 'changed' END;
END
$fn$;
COMMENT ON FUNCTION @extschema@.price_import_row(text, text, text, timestamptz, numeric, numeric, numeric, numeric, numeric, numeric, bigint, numeric, numeric, numeric, numeric, numeric, numeric, numeric, text) IS
'Internal to the importers: price_set and report whether the row was inserted, changed or unchanged';
REVOKE ALL ON FUNCTION @extschema@.price_import_row(text, text, text, timestamptz, numeric, numeric, numeric, numeric, numeric, numeric, bigint, numeric, numeric, numeric, numeric, numeric, numeric, numeric, text) FROM PUBLIC;

-- A JSON number as numeric; NULL when absent; an error naming the field otherwise.
CREATE FUNCTION @extschema@.price_json_number(obj jsonb, field text, scale numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v jsonb := obj -> field;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'number' THEN
        RAISE EXCEPTION '% is not a number', field USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v::text::numeric < 0 THEN
        RAISE EXCEPTION '% is negative', field USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN trim_scale(round(v::text::numeric * scale, 9));
END
$fn$;
COMMENT ON FUNCTION @extschema@.price_json_number(jsonb, text, numeric) IS
'Internal to the importers: a non-negative JSON number times scale, rounded to 9 decimals';
REVOKE ALL ON FUNCTION @extschema@.price_json_number(jsonb, text, numeric) FROM PUBLIC;

-- LiteLLM model_prices_and_context_window.json: USD per token, one entry per
-- model key, _above_<N>k_tokens context tiers, _batches/_flex/_priority
-- service tiers. LiteLLM has no dates: the prices apply from effective_from.
CREATE FUNCTION @extschema@.price_import_litellm(catalog jsonb, effective_from timestamptz)
RETURNS TABLE (entry text, provider text, model text, service_tier text, action text, reason text)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_key text;
    v_val jsonb;
    v_provider text;
    v_model text;
    v_suffix text;
    v_tier text;
    v_thr_k integer;
    v_t text;
    v_seen text[] := '{}';
    M constant numeric := 1000000;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) <> 'object' THEN
        RAISE EXCEPTION 'malformed LiteLLM catalog: the top level must be a JSON object keyed by model'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the contents of model_prices_and_context_window.json as jsonb.';
    END IF;
    IF effective_from IS NULL OR NOT isfinite(effective_from) THEN
        RAISE EXCEPTION 'effective_from must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'LiteLLM prices carry no dates: pass the date the catalog''s prices apply from.';
    END IF;
    FOR v_key, v_val IN SELECT e.key, e.value FROM jsonb_each(catalog) e ORDER BY e.key LOOP
        entry := v_key; provider := NULL; model := NULL; service_tier := NULL; reason := NULL;
        IF v_key IN ('sample_spec', 'fallback_generalizations', 'last_updated') THEN
            action := 'skipped'; reason := 'not a model entry'; RETURN NEXT; CONTINUE;
        END IF;
        IF jsonb_typeof(v_val) <> 'object' THEN
            action := 'skipped'; reason := 'entry is not a JSON object'; RETURN NEXT; CONTINUE;
        END IF;
        IF NOT v_val ? 'input_cost_per_token' OR NOT v_val ? 'output_cost_per_token' THEN
            action := 'skipped';
            reason := format('no per-token input and output price (mode %s)', coalesce(v_val ->> 'mode', 'unknown'));
            RETURN NEXT; CONTINUE;
        END IF;
        v_provider := @extschema@.price_provider_name(coalesce(v_val ->> 'litellm_provider', split_part(v_key, '/', 1)));
        v_model := lower(v_key);
        IF position('/' IN v_model) > 0 AND (split_part(v_model, '/', 1) = lower(v_val ->> 'litellm_provider')
                                              OR @extschema@.price_provider_name(split_part(v_model, '/', 1)) = v_provider) THEN
            v_model := substr(v_model, length(split_part(v_model, '/', 1)) + 2);
        END IF;
        provider := v_provider; model := v_model;
        IF v_provider !~ '^[a-z0-9][a-z0-9_.-]*$' OR v_model = '' THEN
            action := 'skipped'; reason := 'provider or model name not usable'; RETURN NEXT; CONTINUE;
        END IF;
        IF (v_provider || '/' || v_model) = ANY (v_seen) THEN
            action := 'skipped'; reason := 'duplicate of an entry already imported (names differ only in case or prefix)';
            RETURN NEXT; CONTINUE;
        END IF;
        v_seen := v_seen || (v_provider || '/' || v_model);
        -- The lowest context tier LiteLLM gives for input (one tier per price row).
        SELECT min(substring(k FROM '^input_cost_per_token_above_([0-9]+)k_tokens$')::integer) INTO v_thr_k
          FROM jsonb_object_keys(v_val) k WHERE k ~ '^input_cost_per_token_above_[0-9]+k_tokens$';
        FOREACH v_suffix IN ARRAY ARRAY['', '_batches', '_flex', '_priority'] LOOP
            v_tier := CASE v_suffix WHEN '' THEN 'standard' WHEN '_batches' THEN 'batch'
                                    WHEN '_flex' THEN 'flex' ELSE 'priority' END;
            CONTINUE WHEN v_suffix <> '' AND NOT v_val ? ('input_cost_per_token' || v_suffix);
            service_tier := v_tier;
            v_t := CASE WHEN v_thr_k IS NULL THEN NULL ELSE '_above_' || v_thr_k || 'k_tokens' END;
            BEGIN
                IF v_suffix <> '' AND NOT v_val ? ('output_cost_per_token' || v_suffix) THEN
                    RAISE EXCEPTION 'no output price for the % tier', v_tier USING ERRCODE = 'invalid_parameter_value';
                END IF;
                action := @extschema@.price_import_row(v_provider, v_model, v_tier, effective_from,
                    @extschema@.price_json_number(v_val, 'input_cost_per_token' || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'output_cost_per_token' || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'cache_read_input_token_cost' || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'cache_creation_input_token_cost' || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'cache_creation_input_token_cost_above_1hr' || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'output_cost_per_reasoning_token' || v_suffix, M),
                    CASE WHEN v_t IS NOT NULL AND v_val ? ('input_cost_per_token' || v_t || v_suffix)
                         THEN v_thr_k * 1000 END,
                    @extschema@.price_json_number(v_val, 'input_cost_per_token' || v_t || v_suffix, M),
                    coalesce(@extschema@.price_json_number(v_val, 'output_cost_per_token' || v_t || v_suffix, M),
                             CASE WHEN v_t IS NOT NULL AND v_val ? ('input_cost_per_token' || v_t || v_suffix)
                                  THEN @extschema@.price_json_number(v_val, 'output_cost_per_token' || v_suffix, M) END),
                    @extschema@.price_json_number(v_val, 'cache_read_input_token_cost' || v_t || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'cache_creation_input_token_cost' || v_t || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'cache_creation_input_token_cost_above_1hr' || v_t || v_suffix, M),
                    @extschema@.price_json_number(v_val, 'output_cost_per_reasoning_token' || v_t || v_suffix, M),
                    NULL, 'litellm');
                reason := NULL;
            EXCEPTION WHEN invalid_parameter_value OR null_value_not_allowed OR check_violation
                           OR exclusion_violation OR numeric_value_out_of_range THEN
                action := 'skipped'; reason := SQLERRM;
            END;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.price_import_litellm(jsonb, timestamptz) IS
'Imports LiteLLM''s model_prices_and_context_window.json (per-token prices, _above_Nk_tokens context tiers, _batches/_flex/_priority tiers, 1-hour cache writes) with prices in force from effective_from; returns one row per entry and tier: inserted, changed, unchanged or skipped with the reason. Idempotent';
REVOKE ALL ON FUNCTION @extschema@.price_import_litellm(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.price_import_litellm(jsonb, timestamptz) TO tokenledger_admin;

-- genai-prices v2 data.json: providers -> models -> prices (USD per million
-- tokens, {base, tiers} cliffs, a list of {constraint: {start_date}, prices}
-- as price history). The unconstrained first entry applies from 1970-01-01.
CREATE FUNCTION @extschema@.price_import_genai_prices(catalog jsonb)
RETURNS TABLE (entry text, provider text, model text, service_tier text, action text, reason text)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_prov jsonb;
    v_model jsonb;
    v_list jsonb;
    v_item jsonb;
    v_prices jsonb;
    v_from timestamptz;
    v_thr bigint;
    v_field text;
    v_val jsonb;
    v_base numeric[];
    v_tier numeric[];
    v_fields constant text[] := ARRAY['input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok',
                                      'cache_write_1h_mtok', 'output_reasoning_mtok'];
    i integer;
BEGIN
    IF catalog IS NULL OR jsonb_typeof(catalog) <> 'array' THEN
        RAISE EXCEPTION 'malformed genai-prices catalog: the top level must be a JSON array of providers'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the contents of genai-prices prices/data.json (v2) as jsonb.';
    END IF;
    FOR v_prov IN SELECT value FROM jsonb_array_elements(catalog) LOOP
        IF jsonb_typeof(v_prov) <> 'object' OR jsonb_typeof(v_prov -> 'models') <> 'array' OR v_prov ->> 'id' IS NULL THEN
            RAISE EXCEPTION 'malformed genai-prices catalog: every provider needs an id and a models array'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the v2 data.json unmodified.';
        END IF;
        provider := @extschema@.price_provider_name(v_prov ->> 'id');
        FOR v_model IN SELECT value FROM jsonb_array_elements(v_prov -> 'models') LOOP
            model := lower(v_model ->> 'id');
            entry := (v_prov ->> 'id') || '/' || coalesce(v_model ->> 'id', '?');
            service_tier := 'standard';
            IF model IS NULL OR model = '' OR provider !~ '^[a-z0-9][a-z0-9_.-]*$' THEN
                action := 'skipped'; reason := 'provider or model id not usable'; RETURN NEXT; CONTINUE;
            END IF;
            v_list := CASE jsonb_typeof(v_model -> 'prices')
                          WHEN 'array' THEN v_model -> 'prices'
                          WHEN 'object' THEN jsonb_build_array(jsonb_build_object('prices', v_model -> 'prices'))
                      END;
            IF v_list IS NULL THEN
                action := 'skipped'; reason := 'no prices'; RETURN NEXT; CONTINUE;
            END IF;
            FOR v_item IN SELECT value FROM jsonb_array_elements(v_list) LOOP
                reason := NULL;
                BEGIN
                    IF v_item -> 'constraint' ? 'start_time' OR v_item -> 'constraint' ? 'end_time' THEN
                        RAISE EXCEPTION 'time-of-day prices are not supported (the default price applies all day)'
                            USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                    v_from := coalesce((v_item -> 'constraint' ->> 'start_date')::date, '1970-01-01'::date)::timestamp AT TIME ZONE 'UTC';
                    v_prices := v_item -> 'prices';
                    IF jsonb_typeof(v_prices) <> 'object' THEN
                        RAISE EXCEPTION 'prices is not a JSON object' USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                    v_thr := NULL;
                    v_base := ARRAY[NULL, NULL, NULL, NULL, NULL, NULL]::numeric[];
                    v_tier := ARRAY[NULL, NULL, NULL, NULL, NULL, NULL]::numeric[];
                    FOR i IN 1 .. 6 LOOP
                        v_field := v_fields[i];
                        v_val := v_prices -> v_field;
                        IF v_field = 'cache_write_mtok' AND v_val IS NULL THEN
                            v_val := v_prices -> 'cache_write_5m_mtok';
                        END IF;
                        CONTINUE WHEN v_val IS NULL;
                        IF jsonb_typeof(v_val) = 'object' THEN
                            IF jsonb_typeof(v_val -> 'tiers') <> 'array' OR jsonb_array_length(v_val -> 'tiers') <> 1 THEN
                                RAISE EXCEPTION '% has % context tiers; one is supported', v_field,
                                    coalesce(jsonb_array_length(v_val -> 'tiers'), 0)
                                    USING ERRCODE = 'invalid_parameter_value';
                            END IF;
                            IF v_thr IS NOT NULL AND v_thr <> (v_val -> 'tiers' -> 0 ->> 'start')::bigint THEN
                                RAISE EXCEPTION 'fields have different tier thresholds' USING ERRCODE = 'invalid_parameter_value';
                            END IF;
                            v_thr := (v_val -> 'tiers' -> 0 ->> 'start')::bigint;
                            v_base[i] := @extschema@.price_json_number(v_val, 'base', 1);
                            v_tier[i] := @extschema@.price_json_number(v_val -> 'tiers' -> 0, 'price', 1);
                        ELSE
                            v_base[i] := @extschema@.price_json_number(v_prices, v_field, 1);
                            IF v_field = 'cache_write_mtok' AND NOT v_prices ? 'cache_write_mtok' THEN
                                v_base[i] := @extschema@.price_json_number(v_prices, 'cache_write_5m_mtok', 1);
                            END IF;
                        END IF;
                    END LOOP;
                    IF v_base[1] IS NULL OR v_base[2] IS NULL THEN
                        RAISE EXCEPTION 'no input and output token price' USING ERRCODE = 'invalid_parameter_value';
                    END IF;
                    IF v_thr IS NOT NULL THEN
                        -- A field without tiers keeps its base price above the threshold.
                        FOR i IN 1 .. 6 LOOP
                            v_tier[i] := coalesce(v_tier[i], v_base[i]);
                        END LOOP;
                    END IF;
                    action := @extschema@.price_import_row(provider, model, 'standard', v_from,
                        v_base[1], v_base[2], v_base[3], v_base[4], v_base[5], v_base[6],
                        v_thr, v_tier[1], v_tier[2], v_tier[3], v_tier[4], v_tier[5], v_tier[6],
                        round(@extschema@.price_json_number(v_prices, 'requests_kcount', 1) / 1000, 9),
                        'genai-prices');
                EXCEPTION WHEN invalid_parameter_value OR null_value_not_allowed OR check_violation
                               OR exclusion_violation OR numeric_value_out_of_range
                               OR invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
                    action := 'skipped'; reason := SQLERRM;
                END;
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.price_import_genai_prices(jsonb) IS
'Imports pydantic genai-prices v2 data.json (USD per million tokens, {base, tiers} context tiers, start_date constraints as effective periods); returns one row per model price entry: inserted, changed, unchanged or skipped with the reason. Idempotent';
REVOKE ALL ON FUNCTION @extschema@.price_import_genai_prices(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.price_import_genai_prices(jsonb) TO tokenledger_admin;
