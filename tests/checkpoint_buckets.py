"""Checkpoint buckets on the test S3 service (moto), as an operator would make them:
with Object Lock (what docker-compose.yml's minio-init creates), or without it (the
mistake production must refuse)."""

from __future__ import annotations

import secrets
from typing import Any

import boto3

# moto accepts any credentials; production settings read them like these.
S3_TEST_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=S3_TEST_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=S3_TEST_CREDENTIALS["aws_secret_access_key"],
    )


def checkpoint_bucket_create(endpoint_url: str, *, locked: bool = True) -> str:
    bucket = f"audit-{secrets.token_hex(6)}"
    s3_client(endpoint_url).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=locked)
    return bucket


def checkpoint_bucket_env(endpoint_url: str, *, locked: bool = True) -> dict[str, str]:
    """The production variables naming a fresh checkpoint bucket on the test S3."""
    return {
        "SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET": checkpoint_bucket_create(
            endpoint_url, locked=locked
        ),
        "SECUREDRIVE_AUDIT_CHECKPOINT_S3_ENDPOINT_URL": endpoint_url,
        "SECUREDRIVE_AUDIT_CHECKPOINT_S3_REGION": "us-east-1",
        "SECUREDRIVE_AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
        "SECUREDRIVE_AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY": S3_TEST_CREDENTIALS[
            "aws_secret_access_key"
        ],
    }
