"""Moved to ``askdb.llm.replay_backend``; this alias stays for one release."""

from askdb._moved import alias_module

alias_module(__name__, "askdb.llm.replay_backend")
