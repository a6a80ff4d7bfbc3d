-- 100 events per usage_log_insert_batch call (same values as insert_plain_batch.sql).
SELECT usage_log_insert_batch(array_agg('user-' || u), array_agg('model-' || m), provider => array_agg('openai'::text),
       endpoint => array_agg('chat'::text), input_tokens => array_agg(i), output_tokens => array_agg(o),
       cache_read_tokens => array_agg(i / 2), session_id => array_agg('sess-' || u), request_id => array_agg(md5(random()::text)),
       latency_ms => array_agg(l))
  FROM (SELECT (100 + random() * 4900)::bigint AS i, (10 + random() * 990)::bigint AS o, (200 + random() * 8800)::int AS l,
               (1 + random() * 7)::int AS m, (1 + random() * 9999)::int AS u
          FROM generate_series(1, 100)) g;
