"""``sfsync central token``: issue (``--user U --role R``), ``list`` and ``revoke ID``.

Issuing prints one parseable line, the token last (shown once)::

    sfsync: token for <user> (<role>, id <id>, expires <ISO time>): <token>

Revoking is audited (``token.revoke``, by ``--by``). Nothing here prints a secret or its hash
except the token just issued.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(csub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: Callable[[argparse.ArgumentParser], None],
             settings: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``token`` to ``sfsync central``; ``settings(args)`` loads and checks the configuration."""
    token = csub.add_parser(
        "token", help="issue an API token (shown once), list or revoke tokens",
        description="Issue a token: `token --user U --role R`; `token list`; `token revoke ID`.")
    common(token)
    token.add_argument("--user", default=None, help="who the token is for (issuing)")
    token.add_argument("--role", default=None,
                       help="operator, planner, engineer, controller, auditor, executive (read-only) or admin")
    token.add_argument("--expires-days", type=float, default=None,
                       help="expiry in days (default: auth.token_expiry_days, 90)")
    token.set_defaults(func=_issue, load_settings=settings)
    actions = token.add_subparsers(dest="token_command", metavar="ACTION")

    def config(p: argparse.ArgumentParser) -> None:  # SUPPRESS: keep a --config given before the action
        p.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="central.toml")

    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    config(listing)
    listing.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    listing.set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a token at once (its next request gets 401)")
    config(revoke)
    revoke.add_argument("token_id", metavar="ID", help="the token id (from `token list`)")
    revoke.add_argument("--by", default="cli", help="who revokes it (for the audit log)")
    revoke.set_defaults(func=_revoke)


def _container(args: argparse.Namespace) -> Any:
    from central.bootstrap import bootstrap

    return bootstrap(args.load_settings(args), migrate=True)


def _fail(message: str) -> int:
    print(f"sfsync: {message}", file=sys.stderr)
    return 2


def _issue(args: argparse.Namespace) -> int:
    from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
    from central.domain.commands import IssueToken
    from central.errors import CentralError
    from central.service_layer.token_revocation import issue_api_token

    if not args.user or not args.role:
        return _fail("issuing a token needs --user and --role (or use `token list` / `token revoke ID`)")
    days = args.expires_days
    if days is not None and not (math.isfinite(days) and 0 < days <= 36_500):
        return _fail(f"--expires-days must be a number of days in (0, 36500], got {days}")
    container = _container(args)
    try:
        expires = timedelta(days=days if days is not None else container.settings.auth.token_expiry_days)
        issued = issue_api_token(IssueToken(args.user, args.role, expires),
                                 SqlAlchemyUnitOfWork(container.write_sessions))
    except CentralError as exc:
        return _fail(exc.message)
    finally:
        container.dispose()
    until = issued.expires.isoformat(timespec="seconds") if issued.expires is not None else "never"
    print(f"sfsync: token for {issued.user} ({issued.role}, id {issued.token_id}, expires {until}): {issued.token}",
          flush=True)
    return 0


def _list(args: argparse.Namespace) -> int:
    from central.service_layer.access import list_tokens

    container = _container(args)
    try:
        with container.read_sessions() as session:
            tokens = list_tokens(session, include_inactive=args.all)
    finally:
        container.dispose()
    header = ("ID", "USER", "ROLE", "STATUS", "CREATED", "EXPIRES")
    rows = [(t["id"], t["user"], t["role"], t["status"], _day(t["created"]), _day(t["expires"])) for t in tokens]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _day(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "never"


def _revoke(args: argparse.Namespace) -> int:
    from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
    from central.domain.commands import RevokeToken
    from central.errors import CentralError
    from central.service_layer.token_revocation import revoke_api_token

    container = _container(args)
    try:
        row = revoke_api_token(RevokeToken(args.token_id, args.by), SqlAlchemyUnitOfWork(container.write_sessions))
    except CentralError as exc:
        return _fail(exc.message)
    finally:
        container.dispose()
    print(f"sfsync: token {row.id} of {row.user} ({row.role}) revoked", flush=True)
    return 0
