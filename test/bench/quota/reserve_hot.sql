SELECT reservation_id FROM quota_reserve('hot', 500, 0.001, interval '2 seconds');
