"""Plain helpers shared by every layer: :mod:`errors` (``InputError``, the message that names
the file and line), :mod:`sql` (statements from ``sql/*.sql``, transactions) and :mod:`storage`
(atomic writes, content fingerprints, plain names inside the data directory).

Anything may import this package; it imports nothing else of the project.
"""
