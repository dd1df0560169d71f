"""What every long-running front end shares, above the workflow and below the front ends: one
assistant per process with its readiness and model status (``service``), and the audit log of
every question asked (``audit``). The chat, the HTTP API and the CLI import from here; nothing
here imports a front end.
"""
