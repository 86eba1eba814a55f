"""``triton-detect``: the command line, a thin layer over the client, the exporter, the launcher and
the tools.

:mod:`.app` holds the registry, the exit codes and the one error report; :mod:`.arguments` the
options and argument types several commands share; :mod:`.output` tables and detection output. One
module per group of commands: :mod:`.build` (``build``, ``pin``), :mod:`.serve`, :mod:`.demo`,
:mod:`.detect`, :mod:`.status` (``health``, ``stats``, ``models``), :mod:`.compare`, :mod:`.perf`
(``perf``, ``perf-analyzer``). A new command goes into one of them, or a new module named in
``app.COMMAND_MODULES``.
"""
