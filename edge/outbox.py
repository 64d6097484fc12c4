"""The SQLite outbox: every derived event, its gapless seq and the counter marks, durably.

One file per edge box (WAL, ``synchronous=FULL``). One :meth:`Outbox.append` is one
transaction holding a group of events *and* the new last values (marks) of the counters that
produced them, so after a crash the marks and the stored events always agree: a counter is
never counted twice nor lost. Seqs run from 1 with no gap; the last one assigned lives in
``meta`` so it survives the deletion of every acked row.

Events are stored already encoded (the exact wire bytes, seq included): forwarding is a byte
join. Rows are deleted only by :meth:`Outbox.ack`, i.e. when central's ack covers them.

The stream id is made when the database is created: a re-imaged box (new file) is a new
stream from seq 1, and central never confuses it with the old one.

Schema 2 adds ``marks.at`` (when the marked value was read: the counter plausibility rules need
the time since the last reading). An outbox of schema 1 is upgraded in place when opened for
writing (one ``ALTER TABLE ... ADD COLUMN`` and the version, in one transaction); its existing
marks have no time until their counter moves again.

Not thread-safe: the agent uses one outbox from one worker thread.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.counters import Mark
from edge.encoding import with_seq
from edge.errors import OutboxError, OutboxMismatch

__all__ = ["Outbox", "OutboxStats", "Entry", "SCHEMA_VERSION"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS marks (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, epoch TEXT NOT NULL, at REAL
);
"""

#: one derived item: event body without seq (or None: only the mark moves), mark key, mark
Entry = tuple[bytes | None, str, Mark]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Backlog figures for status and metrics."""

    stream: str
    rows: int
    bytes: int
    last_seq: int
    acked_through: int
    acked_at: float | None
    oldest_created: float | None
    disk_free: int
    max_rows: int
    max_bytes: int

    @property
    def over_budget(self) -> bool:
        return self.rows > self.max_rows or self.bytes > self.max_bytes


class Outbox:
    """A durable, ordered queue of encoded events plus the counter marks that produced them."""

    def __init__(
        self,
        path: Path,
        plant: str,
        edge: str,
        *,
        max_rows: int = 5_000_000,
        max_bytes: int = 2 * 1024**3,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        try:
            if read_only:
                if not self.path.exists():
                    raise OutboxError(f"outbox {self.path} does not exist")
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA busy_timeout=5000")
            self.stream = self._init_meta(plant, edge, read_only)
            meta = self._meta()
            self.last_seq = int(meta.get("last_seq", "0"))
            self.acked_through = int(meta.get("acked_through", "0"))
            self.acked_at: float | None = float(meta["acked_at"]) if "acked_at" in meta else None
            self.bytes = int(self._db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM events").fetchone()[0])
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc

    # ------------------------------------------------------------------ set-up

    def _meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def _init_meta(self, plant: str, edge: str, read_only: bool) -> str:
        meta = self._meta()
        if not meta:
            if read_only:
                raise OutboxError(f"outbox {self.path} is empty (never initialised)")
            stream = f"{edge[:40]}-{secrets.token_hex(8)}"
            with self._tx():
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("plant", plant),
                        ("edge", edge),
                        ("stream", stream),
                        ("last_seq", "0"),
                        ("acked_through", "0"),
                        ("created", repr(time.time())),
                    ],
                )
            log.info("new outbox %s: stream %s (plant %s, edge %s)", self.path, stream, plant, edge)
            return stream
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise OutboxMismatch(f"outbox {self.path} has schema {version}, this agent knows {SCHEMA_VERSION}")
        if (meta.get("plant"), meta.get("edge")) != (plant, edge):
            raise OutboxMismatch(
                f"outbox {self.path} belongs to plant {meta.get('plant')!r} edge {meta.get('edge')!r}, "
                f"not {plant!r} {edge!r}; point outbox.path elsewhere or move the file away"
            )
        if version < SCHEMA_VERSION and not read_only:
            self._upgrade(version)
        return meta["stream"]

    def _upgrade(self, version: int) -> None:
        """Bring an older outbox file to :data:`SCHEMA_VERSION` in one transaction."""
        with self._tx():
            columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(marks)")}
            if "at" not in columns:
                self._db.execute("ALTER TABLE marks ADD COLUMN at REAL")
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        log.info("outbox %s upgraded from schema %d to %d", self.path, version, SCHEMA_VERSION)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    # ------------------------------------------------------------------ writes

    def append(self, entries: Sequence[Entry], created: float | None = None) -> int:
        """Store events (seqs assigned here) and marks in one transaction; the number of events."""
        stamp = time.time() if created is None else created
        rows: list[tuple[int, bytes, float]] = []
        marks: dict[str, Mark] = {}
        seq = self.last_seq
        added = 0
        for body, key, mark in entries:
            if body is not None:
                seq += 1
                data = with_seq(seq, body)
                added += len(data)
                rows.append((seq, data, stamp))
            marks[key] = mark
        try:
            with self._tx():
                if rows:
                    self._db.executemany("INSERT INTO events (seq, body, created) VALUES (?, ?, ?)", rows)
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (str(seq),))
                if marks:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO marks (key, kind, value, epoch, at) VALUES (?, ?, ?, ?, ?)",
                        [
                            (k, "i" if isinstance(m.value, int) else "s", str(m.value), m.epoch,
                             None if m.at is None else m.at.timestamp())
                            for k, m in marks.items()
                        ],
                    )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write outbox {self.path}: {exc}") from exc
        self.last_seq = seq
        self.bytes += added
        return len(rows)

    def ack(self, through: int) -> int:
        """Delete every event up to ``through`` (central committed them); the number deleted."""
        through = min(through, self.last_seq)
        if through <= self.acked_through:
            return 0
        now = time.time()
        try:
            with self._tx():
                gone = self._db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM events WHERE seq <= ?", (through,)
                ).fetchone()
                self._db.execute("DELETE FROM events WHERE seq <= ?", (through,))
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [("acked_through", str(through)), ("acked_at", repr(now))],
                )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot delete acked events from {self.path}: {exc}") from exc
        self.acked_through = through
        self.acked_at = now
        self.bytes -= int(gone[1])
        return int(gone[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ reads

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def marks(self) -> dict[str, Mark]:
        out: dict[str, Mark] = {}
        columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(marks)")}
        at_column = "at" if "at" in columns else "NULL"  # a read-only look at a schema-1 file
        rows = self._db.execute(f"SELECT key, kind, value, epoch, {at_column} FROM marks")
        for key, kind, value, epoch, at in rows:
            when = None if at is None else datetime.fromtimestamp(float(at), UTC)
            out[key] = Mark(int(value) if kind == "i" else str(value), str(epoch), when)
        return out

    def pending(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Stored events with seq > ``after``, in order: at most ``limit`` and about ``max_bytes``."""
        out: list[tuple[int, bytes]] = []
        size = 0
        cur = self._db.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        for seq, body in cur:
            if out and size + len(body) + 1 > max_bytes:
                break
            out.append((int(seq), bytes(body)))
            size += len(body) + 1
        cur.close()
        return out

    def stats(self) -> OutboxStats:
        row = self._db.execute("SELECT created FROM events ORDER BY seq LIMIT 1").fetchone()
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = -1
        return OutboxStats(
            stream=self.stream,
            rows=self.last_seq - self.acked_through,
            bytes=self.bytes,
            last_seq=self.last_seq,
            acked_through=self.acked_through,
            acked_at=self.acked_at,
            oldest_created=None if row is None else float(row[0]),
            disk_free=free,
            max_rows=self.max_rows,
            max_bytes=self.max_bytes,
        )

    def close(self) -> None:
        self._db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
