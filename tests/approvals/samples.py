"""Approvals to notify about, as the store would hand them over."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus

CREATED = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def sample_approval(
    approval_id: str = "apr_0123456789abcdef",
    *,
    tool: str = "delete_file",
    arguments: dict[str, Any] | None = None,
    identity: str | None = "alice",
    message: str = "deleting files needs a human",
    status: ApprovalStatus = ApprovalStatus.PENDING,
    **changes: Any,
) -> Approval:
    request = ApprovalRequest(
        fingerprint="sha256:" + "ab" * 32,
        tool=tool,
        arguments={"path": "/srv/data/report.csv", "force": True}
        if arguments is None
        else arguments,
        rule_id="r-delete",
        rule_name="deletes need approval",
        policy_revision="rev-7",
        identity=identity,
        server="files",
        session="sess-1",
        message=message,
        decision_id="dec-1",
        mode="queue",
        timeout_seconds=300.0,
    )
    approval = Approval(
        id=approval_id,
        request=request,
        status=status,
        created_at=CREATED,
        expires_at=CREATED + 300.0,
    )
    return replace(approval, **changes)
