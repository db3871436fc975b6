"""MLflow's REST API on moorline's services, for the unmodified ``mlflow`` client.

``routes`` mounts the tracking API (experiments, runs, metrics, logged
models), the artifact proxy and the server-info probe; ``wire`` holds the
JSON format, ``dispatch`` the request loop, and one module per concern holds
its endpoints. See ``specs/mlflow-rest-api.md`` for the wire contract.
"""
