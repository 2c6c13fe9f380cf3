"""The ID-photo domain: options, vendor client, photo records, storage and the two flows.

Shared by both Lambda functions through the layer. Nothing here imports boto3 at module level
except `aws.py`, the one place AWS clients are made.
"""
