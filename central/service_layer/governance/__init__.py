"""Governance: the hash-chained, append-only audit log and approvals (segregation of duties).

Public entry points (everything else is private to the package):

- :func:`record` - queue an audit record in the caller's transaction (written at its commit);
- :func:`request_approval`, :func:`register_appliers` - park a change until a second person
  approves it; the applier registered for its kind (``central.bootstrap.APPLIERS``) applies it in
  the approving transaction; :func:`register_unit_of_work` - the unit-of-work factory the wiring
  injects for the session-taking wrappers;
- :func:`approve`, :func:`reject`, :func:`list_approvals`, :func:`get_approval`;
- :func:`list_audit`, :func:`verify_snapshot` / :func:`verify_chain` - the read side of the log;
- :func:`attach_request`, :class:`RequestContext` - used by the API to tie records to requests.
"""

from __future__ import annotations

from central.service_layer.governance.approvals import (
    Applier,
    ApprovedRequest,
    approval_dict,
    approve,
    get_approval,
    list_approvals,
    register_applier,
    register_appliers,
    register_unit_of_work,
    registered_kinds,
    reject,
    request_approval,
)
from central.service_layer.governance.audit import (
    Actor,
    RequestContext,
    attach_request,
    flush_audit,
    list_audit,
    record,
    request_digest,
    verify_chain,
    verify_snapshot,
)

__all__ = [
    "Actor",
    "Applier",
    "ApprovedRequest",
    "RequestContext",
    "approval_dict",
    "approve",
    "attach_request",
    "flush_audit",
    "get_approval",
    "list_approvals",
    "list_audit",
    "record",
    "register_applier",
    "register_appliers",
    "register_unit_of_work",
    "registered_kinds",
    "reject",
    "request_approval",
    "request_digest",
    "verify_chain",
    "verify_snapshot",
]
