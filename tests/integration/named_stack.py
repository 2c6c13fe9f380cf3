"""Start the local stack under a given stack name, make one photo, pay for one final, print what happened
(JSON). Run in a process of its own by test_stack_names.py: the local stack installs process-wide hooks,
so a second one cannot run beside the session's.

    python -m tests.integration.named_stack STACK_NAME
"""

from __future__ import annotations

import json
import sys

from local.stack import Ports, samples, start_stack


def main(stack_name: str) -> dict[str, object]:
    with start_stack(ports=Ports.ephemeral(), stack_name=stack_name, retry_delays=(0.2, 0.4)) as stack:
        key = stack.upload("named/me.jpg", samples.astronaut())
        photo = stack.wait_for_photo(key)
        final = stack.finals(key)
        outputs = stack.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
        return {
            "bucket": stack.bucket,
            "stack_uuid": stack.template.pseudo.stack_uuid,
            "functions": {f.logical_id: f.name for f in stack.template.functions},
            "log_groups": {f.logical_id: f.log_group for f in stack.template.functions},
            "status": photo["status"],
            "final_status": final.status_code,
            "billed": stack.vendor_stats().get("billed_calls"),
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in outputs},
        }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
