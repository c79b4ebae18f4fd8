"""The branch core: queue state, calling policy and events.

Pure Python: no web framework, no database. Time and randomness come in as
arguments so the server, the simulator and the tests drive the same rules.
"""
