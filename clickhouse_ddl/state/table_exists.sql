SELECT count() FROM system.tables WHERE database = 'analytics' AND name = {table:String}
