"""The local S3-compatible server behind ``echonote up --role storage``: moto's server, an emulator.

What it is: moto's stand-alone server (``python -m moto.server``), a real HTTP server on a port that
speaks the S3 API, so s3fs, boto3, the ``aws`` command line and echonote's workers talk to it exactly as
to MinIO, Ceph or AWS. It installs from the package registries (the ``storage`` extra) and runs as a
plain process; a MinIO server binary is not on them (the compose file runs the MinIO image instead).

What it is not: storage. It keeps every object **in memory**: a restart loses them all (and makes a new
key, so workers elsewhere need the new one), and its speed and limits are not a real store's. Use it on
one machine and in tests; keep data you care about in MinIO or another real store.

Start-up here: wait until it answers, create an IAM user with an access key (moto makes the key), create
the bucket named by ``ECHONOTE_STORAGE_URL``, then switch on moto's request authentication, so a
wrong key is refused as a real store refuses it. The endpoint and the key go into
``<state>/storage.json`` (0600), where :mod:`echonote.storage` finds them on this machine.
"""
from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from echonote import config, storage
from echonote.private_files import write_private

DEFAULT_BUCKET = "echonote"
USER = "echonote"
#: the policy of the generated key: everything (it is this machine's own emulator)
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def argv(port: int) -> list[str]:
    """moto's server on loopback only, at ``port``."""
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def endpoint_for(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def answers(url: str) -> bool:
    """True when the server at ``url`` answers HTTP (moto's own API page)."""
    with urllib.request.urlopen(url + "/moto-api/", timeout=1) as response:
        return response.status == 200


def bucket_name(cfg: config.Config) -> str:
    """The bucket of ECHONOTE_STORAGE_URL, else ``echonote``."""
    store = storage.configured(cfg)
    return store.bucket if store else DEFAULT_BUCKET


def _client(service: str, url: str, key: str = "setup", secret: str = "setup"):  # noqa: S107 (before auth is on)
    import botocore.session

    session = botocore.session.get_session()
    return session.create_client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                                 aws_secret_access_key=secret)


def provision(url: str, bucket: str) -> dict[str, str]:
    """Create the user, its key and ``bucket``, then turn authentication on; return endpoint, key and secret."""
    iam = _client("iam", url)
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="all", PolicyDocument=json.dumps(ADMIN_POLICY))
    created = iam.create_access_key(UserName=USER)["AccessKey"]
    key, secret = created["AccessKeyId"], created["SecretAccessKey"]
    s3 = _client("s3", url, key, secret)
    s3.create_bucket(Bucket=bucket)
    request = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5) as response:  # every request from now on is signed and checked
        response.read()
    return {"endpoint": url, "bucket": bucket, "key": key, "secret": secret}


def write_role_file(state: Path, settings: dict[str, str]) -> Path:
    """``<state>/storage.json``, 0600: how this machine's clients and workers reach the local store."""
    return write_private(state / storage.ROLE_FILE, json.dumps(settings) + "\n")


def wanted_by_default(cfg: config.Config) -> bool:
    """Whether a plain ``echonote up`` starts the local store: a store is configured and nothing points
    elsewhere (no endpoint or key of its own), or its endpoint is this role's port on loopback."""
    import os

    if not cfg.storage_url:
        return False
    named = cfg.storage_endpoint or os.environ.get("AWS_ENDPOINT_URL", "")
    if named:
        return named.rstrip("/") == endpoint_for(cfg.storage_port)
    return not (cfg.storage_access_key or os.environ.get("AWS_ACCESS_KEY_ID"))
