"""Catalog services: typed functions that read and change the catalog through the policy.

Each takes a database session and the acting ``Actor`` and returns model objects or typed
results; write services commit their change together with its audit event.
"""
