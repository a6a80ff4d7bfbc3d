-- 100 rows per statement into the bare table: the baseline for the batch function.
INSERT INTO bench_plain (occurred_at, event_id, total_tokens, input_tokens, output_tokens, cache_read_tokens, latency_ms, model_id, endpoint_id, provider_id, request_type_id, user_id, session_id, request_id)
SELECT now(), nextval('bench_plain_seq'), i + o + i / 2, i, o, i / 2, l, m, 1, 1, 1, 'user-' || u, 'sess-' || u, md5(random()::text)
  FROM (SELECT (100 + random() * 4900)::int AS i, (10 + random() * 990)::int AS o, (200 + random() * 8800)::int AS l,
               (1 + random() * 7)::int AS m, (1 + random() * 9999)::int AS u
          FROM generate_series(1, 100)) g;
