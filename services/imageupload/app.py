"""The article's serverless example: an image lands in S3, the function records it.

For each S3 record, insert an item into the DynamoDB images table and publish a message to
the Kinesis stream. boto3 comes from the Lambda runtime (not vendored); AWS_ENDPOINT_URL,
when set, points it at an emulator.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Record every uploaded object of an S3 event."""
    table = boto3.resource("dynamodb").Table(os.environ["IMAGES_TABLE"])
    kinesis = boto3.client("kinesis")
    stream = os.environ["IMAGES_STREAM"]
    done = []
    for record in event.get("Records", []):
        s3 = record["s3"]
        bucket, key = s3["bucket"]["name"], s3["object"]["key"]
        item = {
            "id": f"{bucket}/{key}",
            "bucket": bucket,
            "key": key,
            "size": int(s3["object"].get("size", 0)),
        }
        table.put_item(Item=item)
        kinesis.put_record(StreamName=stream, Data=json.dumps(item).encode(), PartitionKey=item["id"])
        print(f"recorded {item['id']}")
        done.append(item["id"])
    return {"recorded": done, "request": getattr(context, "aws_request_id", None)}
