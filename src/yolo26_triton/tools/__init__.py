"""Developer tools built on the client, the exporter and the launcher: ``compare``, ``perf``, ``demo``."""
