"""Model ⇄ Graph JSON: the only place besides odata/resources.py where Graph camelCase appears."""
