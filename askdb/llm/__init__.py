"""Model I/O, below the workflow: the ``LLM`` interface, the backend registry, every built-in
backend, and the extraction of reasoning and SQL from what a model writes.

Nothing here imports the workflow or a front end.
"""
