-- Distinct ids up to %(max_id)s (the highest loaded; newer rows are not a mismatch yet).
SELECT count(DISTINCT id) FROM {table} WHERE id <= %(max_id)s
