"""Wire helpers for the EKS fake: AWS error bodies, SigV4 checking and forwarding to moto.

The fake EKS (:mod:`tests.fakes.eks`) is a proxy in front of moto's server. Moto answers the
EKS API but accepts any credentials, so the proxy checks SigV4 signatures itself (a wrong
secret must fail like it does at AWS) using the helpers here. The same signature code verifies
the presigned STS URL inside an EKS bearer token, the way aws-iam-authenticator would.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from moto.eks.models import eks_backends
from moto.server import ThreadedMotoServer

from tests.fakes.server import Request, Response

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers that describe one HTTP hop, not the request; the forwarder recomputes them.
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
                "expect", "server", "date"}


def aws_error(status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> Response:
    """An error the way EKS sends it: the code in ``x-amzn-ErrorType``, the text in the body."""
    return Response(status, {"message": message},
                    {"x-amzn-ErrorType": code, "Content-Type": "application/json",
                     **dict(headers or {})})


# -- SigV4 ---------------------------------------------------------------------------------
def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_signature(secret: str, *, method: str, path: str, canonical_query: str,
                    headers: Mapping[str, str], signed_headers: list[str], payload_hash: str,
                    amz_date: str, scope: str) -> str:
    """The SigV4 signature AWS computes for a request (scope: ``date/region/service/aws4_request``).

    Non-S3 services URI-encode the already encoded path once more, hence the second quote().
    """
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n"
                                for name in signed_headers)
    canonical_request = "\n".join([method.upper(), quote(path or "/", safe="/~"),
                                   canonical_query, canonical_headers,
                                   ";".join(signed_headers), payload_hash])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def parse_authorization(header: str) -> dict[str, str] | None:
    """access key, scope, region, service, signed headers and signature of a SigV4 header."""
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    access_key, _, scope = fields.get("Credential", "").partition("/")
    scope_parts = scope.split("/")
    if len(scope_parts) != 4 or "SignedHeaders" not in fields or "Signature" not in fields:
        return None
    return {"access_key": access_key, "scope": scope, "region": scope_parts[1],
            "service": scope_parts[2], "signed_headers": fields["SignedHeaders"],
            "signature": fields["Signature"]}


def check_signature(request: Request, secrets: Mapping[str, str]) -> Response | None:
    """None when ``request`` is signed with a known key pair, else the 403 AWS would answer."""
    auth = parse_authorization(request.headers.get("authorization", ""))
    if auth is None:
        return aws_error(403, "MissingAuthenticationTokenException",
                         "Missing Authentication Token")
    secret = secrets.get(auth["access_key"])
    if secret is None:
        return aws_error(403, "UnrecognizedClientException",
                         "The security token included in the request is invalid.")
    query = "&".join(f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
                     for key, values in sorted(request.query.items()) for value in values)
    payload_hash = request.headers.get("x-amz-content-sha256") \
        or hashlib.sha256(request.body).hexdigest()
    expected = sigv4_signature(
        secret, method=request.method, path=request.path, canonical_query=query,
        headers=request.headers, signed_headers=auth["signed_headers"].split(";"),
        payload_hash=payload_hash, amz_date=request.headers.get("x-amz-date", ""),
        scope=auth["scope"])
    if not hmac.compare_digest(expected, auth["signature"]):
        return aws_error(403, "InvalidSignatureException",
                         "The request signature we calculated does not match the signature "
                         "you provided. Check your AWS Secret Access Key and signing method.")
    return None


def presigned_url_is_valid(url: str, secret: str, extra_headers: Mapping[str, str]) -> bool:
    """Whether a presigned GET URL carries a valid signature for ``secret``.

    ``extra_headers`` are the signed headers the verifier must send along (for an EKS token:
    ``x-k8s-aws-id`` = cluster name), so a token minted for another cluster fails.
    """
    parts = urlsplit(url)
    pairs = [pair.partition("=")[::2] for pair in parts.query.split("&")]
    params = dict(parse_qsl(parts.query))
    signature = params.get("X-Amz-Signature", "")
    canonical_query = "&".join(f"{key}={value}" for key, value in sorted(pairs)
                               if key != "X-Amz-Signature")
    headers = {"host": parts.netloc, **{k.lower(): v for k, v in extra_headers.items()}}
    signed = params.get("X-Amz-SignedHeaders", "").split(";")
    if any(name not in headers for name in signed):
        return False
    scope = params.get("X-Amz-Credential", "").partition("/")[2]
    expected = sigv4_signature(
        secret, method="GET", path=parts.path, canonical_query=canonical_query,
        headers=headers, signed_headers=signed, payload_hash=EMPTY_SHA256,
        amz_date=params.get("X-Amz-Date", ""), scope=scope)
    return hmac.compare_digest(expected, signature)


# -- moto ----------------------------------------------------------------------------------
class MotoBackend:
    """moto's server in a thread, reached over HTTP like any other AWS endpoint."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.host = ""
        self.port = 0

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every EKS resource. moto's state is process-global; its full reset would also
        drop EC2's default VPCs, which moto's EKS rebuilds slowly on the next node group."""
        for account_backends in eks_backends.values():
            account_backends.reset()

    def forward(self, request: Request, *, body: bytes | None = None) -> Response:
        """Send ``request`` on to moto unchanged (moto picks the service from the signature)."""
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_HEADERS}
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                         for k, values in request.query.items() for v in values)
        target = f"{request.path}?{query}" if query else request.path
        return self._exchange(request.method, target, headers,
                              request.body if body is None else body)

    def eks(self, method: str, path: str, region: str, body: Any = None) -> tuple[int, Any]:
        """Call moto's EKS directly (for the fake's own checks): status and parsed JSON."""
        # moto reads only service and region from the header; it never checks the signature.
        auth = (f"AWS4-HMAC-SHA256 Credential=fake/20240101/{region}/eks/aws4_request, "
                "SignedHeaders=host, Signature=0")
        payload = json.dumps(body).encode() if body is not None else b""
        response = self._exchange(method, path, {"authorization": auth,
                                                 "content-type": "application/json"}, payload)
        raw = response.body if isinstance(response.body, bytes) else b""
        try:
            return response.status, json.loads(raw or b"null")
        except ValueError:  # moto crashed (an HTML error page): callers see status and None
            return response.status, None

    def _exchange(self, method: str, target: str, headers: Mapping[str, str],
                  body: bytes) -> Response:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, target, body=body or None, headers=dict(headers))
            answer = connection.getresponse()
            payload = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_HEADERS}
            return Response(answer.status, payload, kept)
        finally:
            connection.close()
