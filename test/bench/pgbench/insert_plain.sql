\set u random(1, 10000)
\set m random(1, 8)
\set i random(100, 5000)
\set o random(10, 1000)
\set l random(200, 9000)
INSERT INTO bench_plain (occurred_at, event_id, input_tokens, output_tokens, cache_read_tokens, latency_ms, model_id, endpoint_id, provider_id, request_type_id, user_id, session_id, request_id) VALUES (now(), nextval('bench_plain_seq'), :i, :o, :i / 2, :l, :m, 1, 1, 1, 'user-' || :u, 'sess-' || :u, md5(random()::text));
