"""``idphoto``: the command line of the ID-photo pipeline.

Upload portraits with options (named specs, colours), wait for the photos, read their status and fetch
the watermark-free finals to disk, against the local stack of ``make up`` or a deployed stack.
Not part of the Lambda layer: it ships in the project's wheel with the layer's domain package
(``idphoto``), whose spec catalogue and option parser it uses to check a command before anything is
uploaded.
"""
