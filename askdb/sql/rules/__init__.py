"""Guard rules: one concern per module, each a pure function ``(tree, context) -> tree | violations``."""

from askdb.sql.rules.functions import allowed_functions
from askdb.sql.rules.limit import row_limit
from askdb.sql.rules.names import known_names
from askdb.sql.rules.statement import query_root
from askdb.sql.rules.writes import no_into, no_locking, no_variables, read_only

# Safety first (a write must be refused as a write, not as an unknown table), then names, and the
# only rewriting rule last so that it never runs on a statement that will be refused anyway.
RULES = (query_root, read_only, no_into, no_locking, no_variables, allowed_functions, known_names, row_limit)

__all__ = ["RULES"]
