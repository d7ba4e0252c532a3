SELECT day, since, reason FROM analytics.pending_days FINAL
