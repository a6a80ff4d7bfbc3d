SELECT allowed FROM quota_check('hot', 500, 0.001);
