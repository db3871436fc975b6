"""Model registry: registered models, versions, aliases, stages, governance and events."""
