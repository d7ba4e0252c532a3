SELECT snapshot FROM analytics.load_state FINAL WHERE source = {source:String}
