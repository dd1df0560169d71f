"""SQL safety and execution: the guard, dialect transpilation and the read-only runner."""

from askdb.sql.context import GuardContext, Violation
from askdb.sql.guard import Verdict, check, guard

__all__ = ["GuardContext", "Verdict", "Violation", "check", "guard"]
