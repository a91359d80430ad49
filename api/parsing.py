"""How the REST API reads its arguments: webargs' Flask parser, refusing a body that is
not JSON where an endpoint reads JSON."""

from flask import Request
from marshmallow import Schema
from webargs.flaskparser import FlaskParser, abort, is_json_request

NOT_JSON = "Send the body as JSON, with Content-Type: application/json."


class ArgumentsParser(FlaskParser):
    """webargs' parser (flask-smorest's default), except that a body in another format (a
    form, say) is refused with 415: webargs would read it as no body at all and answer
    that every required field is missing."""

    def load_json(self, req: Request, schema: Schema):
        if not is_json_request(req) and (req.content_length or req.mimetype):
            abort(415, message=NOT_JSON)
        return super().load_json(req, schema)
