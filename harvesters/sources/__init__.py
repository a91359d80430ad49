"""The harvest source types shipped with the portal, one module each (registered in setup.cfg)."""
