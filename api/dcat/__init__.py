"""Open metadata for other portals: the public catalog as DCAT-AP and as data.json."""
