"""The catalog domain: models, access policy, services and the ports to storage and search.

This package knows nothing of Flask; the web layers (api, portal) call its services.
"""
