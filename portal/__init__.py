"""The portal: the Flask app factory, settings, the ``opendata`` CLI and the pages."""
