"""The API's edge: its contract (request and answer types, OpenAPI), how a request names a photo, how
errors become HTTP answers. The handlers (``functions/get_photo/app.py``, ``functions/create_upload/app.py``)
only wire routes to these."""
