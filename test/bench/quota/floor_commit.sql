-- The floor of a reservation: the cheapest durable write transaction, under
-- the same load as the reservations.
\set v random(1, 10000)
INSERT INTO bench_floor (v) VALUES (:v);
