"""Moved to ``askdb.llm.llamacpp_backend``; this alias stays for one release."""

from askdb._moved import alias_module

alias_module(__name__, "askdb.llm.llamacpp_backend")
