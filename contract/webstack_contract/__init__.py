"""What the operator and the users API must agree on, in one small distribution both depend on.

`metric_names` (the users API exports these metrics; the operator's alerts, canary analysis and dashboard
query them), `frontend` (the UI and its nginx template, rendered by the operator into each stack) and `logs`
(the JSON log line both programs write). Standard library and orjson only: depending on it never pulls in
either program's stack (kopf and `kubernetes`, or Starlette and the database drivers).
"""

__version__ = "0.1.0"
