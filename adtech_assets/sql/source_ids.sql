SELECT id FROM {table}
