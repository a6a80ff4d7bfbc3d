-- Recording many calls in one statement: usage_log_insert_batch (C).

CREATE FUNCTION @extschema@.usage_log_insert_batch(
    user_id               text[],
    model                 text[],
    input_tokens          bigint[]      DEFAULT NULL,
    output_tokens         bigint[]      DEFAULT NULL,
    cache_read_tokens     bigint[]      DEFAULT NULL,
    cache_write_tokens    bigint[]      DEFAULT NULL,
    cache_write_1h_tokens bigint[]      DEFAULT NULL,
    reasoning_tokens      bigint[]      DEFAULT NULL,
    provider              text[]        DEFAULT NULL,
    endpoint              text[]        DEFAULT NULL,
    request_type          text[]        DEFAULT NULL,
    session_id            text[]        DEFAULT NULL,
    message_id            text[]        DEFAULT NULL,
    request_id            text[]        DEFAULT NULL,
    occurred_at           timestamptz[] DEFAULT NULL,
    latency_ms            integer[]     DEFAULT NULL,
    success               boolean[]     DEFAULT NULL,
    error_type            text[]        DEFAULT NULL,
    metadata              jsonb[]       DEFAULT NULL,
    service_tier          text[]        DEFAULT NULL,
    reservation_id        bigint[]      DEFAULT NULL
) RETURNS bigint[]
AS 'MODULE_PATHNAME', 'usage_log_insert_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE
-- Definer rights like usage_log_insert: apps need no table privileges, and
-- the pinned search_path keeps callers from hijacking the internal queries.
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[]) IS
'Records many LLM calls in one statement and returns their event ids in input order. Element i of every array describes event i (parameters as in usage_log_insert); an omitted array or a NULL element takes usage_log_insert''s default. All or nothing: the first invalid element raises usage_log_insert''s error prefixed with its 1-based position, and nothing is written. A request_id already in the ledger, or repeated within the batch, records nothing and returns the original event id';

REVOKE ALL ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.usage_log_insert_batch(text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], timestamptz[], integer[], boolean[], text[], jsonb[], text[], bigint[])
    TO tokenledger_writer, tokenledger_admin;
