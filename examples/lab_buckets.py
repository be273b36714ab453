#!/usr/bin/env python3
"""Create, on the local lab's AWS emulator, the S3 buckets the Lambda specs' triggers name.

Usage: ``lab_buckets.py SPEC...`` (``make demo-app`` runs it for the shop's Lambda). A bucket
is the user's in real AWS; on the lab it has to exist before a deploy can add its notification.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shipyard.core import aws
from shipyard.core.spec import load_spec


def main(argv: list[str]) -> int:
    shipyard = Path(sys.executable).parent / "shipyard"
    status = json.loads(subprocess.run([str(shipyard), "lab", "status", "--json"], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    endpoint = status.get("aws_endpoint")
    if not endpoint:
        print("the lab has no AWS emulator: run `shipyard lab up` first", file=sys.stderr)
        return 1
    s3 = aws.resolve(endpoint).client("s3")  # the emulator's dummy credentials when none are set
    for path in argv:
        section = load_spec(path).service.lambda_
        for trigger in section.triggers.s3 if section is not None else ():
            s3.create_bucket(Bucket=trigger.bucket)
            print(f"bucket {trigger.bucket} on the lab's emulator ({endpoint})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
