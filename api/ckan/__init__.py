"""The CKAN-compatible Action API at /api/3/action/<name> (and /api/action/<name>).

Existing CKAN clients and harvesters (ckanapi, ckanext-harvest) talk to the portal in
CKAN's words: a dataset is a package, a department an organization, a theme a group, a
resource's records the DataStore. Every action goes through the catalog's services and
its access policy, like the REST API v1; this package only translates.

    resources.py   the blueprint: request parsing, the caller, CKAN's envelope and errors
    registry.py    the action registry and CKAN's request-level errors
    params.py      CKAN's loosely typed parameters (strings from query strings, JSON lists)
    read.py        read actions (side-effect free: GET or POST)
    search.py      package_search: q, fq, sort, facets, rows/start over the search service
    datastore.py   datastore_search over the records service
    write.py       steward actions (POST only, with a token)
    dictize.py     catalog objects -> CKAN dicts
    schemas.py     CKAN dicts -> the services' values
    queries.py     the few listings without a catalog service, bound by the policy's clauses
"""
