"""Old import paths that keep working for one release after a module moved, with a warning."""

from __future__ import annotations

import importlib
import sys
import warnings


def alias_module(old: str, new: str) -> None:
    """Make ``import old`` give the module ``new`` (same objects, same registrations), and warn.

    The old name is bound to the new module itself in ``sys.modules``, so ``isinstance`` checks and
    module-level state (the backend registry) are shared, and ``from old import X`` finds every name.
    """
    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path goes in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
