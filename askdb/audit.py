"""Moved to ``askdb.runtime.audit``; this alias stays for one release."""

from askdb._moved import alias_module

alias_module(__name__, "askdb.runtime.audit")
