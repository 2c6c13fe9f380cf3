"""The get-photo API's edge: its contract (answer types, OpenAPI), how a request names a photo, how
errors become HTTP answers. The handler (``functions/get_photo/app.py``) only wires routes to these."""
