"""Record values as the API's JSON shows them: the conversion the exports use too."""

from catalog.exports import json_row, json_value

__all__ = ["json_row", "json_value"]
