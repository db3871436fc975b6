"""The storage ports over moorline's HTTP API: the SDK's remote mode."""
