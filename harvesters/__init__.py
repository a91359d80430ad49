"""Harvesters: the source adapters that bring each department's data into the portal, and
the ingestion of what they fetch (``harvesters.tabular`` loads tabular files into the
record store). This package may import ``catalog``; it never imports ``api`` or ``portal``."""
