\set u random(1, 10000)
INSERT INTO bench_plain (occurred_at, event_id, total_tokens, input_tokens, output_tokens, model_id, request_type_id, user_id)
VALUES (now(), nextval('bench_plain_seq'), 120, 100, 20, 1, 1, 'u' || :u);
