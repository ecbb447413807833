"""A handler module that fails to import: autodiscovery must not hide the error."""

raise ImportError("broken on purpose")
