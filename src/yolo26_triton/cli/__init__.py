"""``triton-detect``: the command line, a thin layer over the client, the exporter and the launcher."""
