"""What the policy and scan controllers write into status when a member turns them down."""

from __future__ import annotations

import httpx2
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status

from hybridcloud.controllers.keyed import member_refusal


def test_a_member_refusal_carries_the_members_own_message() -> None:
    refused = ApiError(status=Status(code=403, message='pods "x" is forbidden: policy p: no'))
    assert member_refusal(refused) == 'pods "x" is forbidden: policy p: no'


def test_an_unreachable_member_is_named_by_the_error_kind_never_by_its_address() -> None:
    error = httpx2.ConnectError("connect to https://10.1.2.3:6443/?token=s3cret failed")
    said = member_refusal(error)
    assert said == "cannot reach the cluster: ConnectError"
    assert "10.1.2.3" not in said and "s3cret" not in said
