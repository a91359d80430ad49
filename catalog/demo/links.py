"""Where the demo's link resources point: the portal's own API, or the department's site.

An API link is the dataset's ``/api/v1/datasets/<slug>`` at the portal's public address
(``portal_url`` in ``data/site.json``), a path this portal serves. An HTML page or PDF
document lies under its department's website (``website`` in ``data/departments.json``),
at the ``path`` its resource spec gives.
"""

# The route of api.datasets.resources' dataset view; a test matches it to the app's rules.
DATASET_API_PATH = "/api/v1/datasets/{slug}"


def link_url(resource_spec: dict, dataset_slug: str, department_site: str, portal_url: str) -> str:
    """The URL of a link resource (a spec without generated ``fields``)."""
    if resource_spec["format"].upper() == "API":
        return portal_url.rstrip("/") + DATASET_API_PATH.format(slug=dataset_slug)
    return f"{department_site.rstrip('/')}/{resource_spec['path']}"
