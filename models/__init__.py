"""The shipped models, installed as the package ``midigen.models`` (see pyproject.toml)."""
