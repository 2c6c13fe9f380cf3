"""The embedded default: the whole system on one machine, no AWS account.

moto (server mode) emulates AWS, the unchanged handlers run in this process, the vendor stand-in plays
the vendor, and a local API Gateway serves the template's REST API. Resources come from template.yaml.

    python -m local.stack up      # run it for a person (Ctrl-C stops it)
    python -m local.stack demo    # sample portraits -> ID photos in out/demo/

In Python: ``with start_stack(ports=Ports.ephemeral()) as stack: ...``
"""

from local.stack.stack import Ports, Stack, start_stack

__all__ = ["Ports", "Stack", "start_stack"]
