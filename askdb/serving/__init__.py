"""LLM backends behind one small interface, reasoning/SQL extraction, and the HTTP API."""
