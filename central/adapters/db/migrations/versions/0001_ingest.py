"""ingest: edges, machines, streams, events, gaps, rejected events, quarantine, alerts, api tokens

Revision ID: 0001_ingest
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001_ingest'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit keys on PostgreSQL, INTEGER (the rowid) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    op.create_index('ix_alerts_key_acked', 'alerts', ['key', 'acked_at'])

    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index('ix_api_tokens_user', 'api_tokens', ['user'])

    op.create_table('edges',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('plant', sa.String(length=64), nullable=False),
    sa.Column('registered', sa.DateTime(timezone=True), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_edges'))
    )
    op.create_table('events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('plant', sa.String(length=64), nullable=False),
    sa.Column('edge', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('machine', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=True),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rx', sa.DateTime(timezone=True), nullable=True),
    sa.Column('posting_ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('qty', sa.BigInteger(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('edge', 'stream', 'seq', name=op.f('uq_events_edge_stream_seq'))
    )
    op.create_index('ix_events_machine_ts', 'events', ['machine', 'ts'])
    op.create_index('ix_events_ts', 'events', ['ts'])

    op.create_table('gaps',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('edge', sa.String(length=64), nullable=False),
    sa.Column('from_seq', sa.BigInteger(), nullable=False),
    sa.Column('through_seq', sa.BigInteger(), nullable=False),
    sa.Column('opened', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('accepted_by', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('alerted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gaps'))
    )
    op.create_index('ix_gaps_stream', 'gaps', ['stream'])

    op.create_table('machines',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('plant', sa.String(length=64), nullable=True),
    sa.Column('edge', sa.String(length=64), nullable=True),
    sa.Column('work_center', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machines'))
    )
    op.create_table('quarantine',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('received', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_received', sa.DateTime(timezone=True), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('digest', name=op.f('uq_quarantine_digest'))
    )
    op.create_table('streams',
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('edge', sa.String(length=64), nullable=False),
    sa.Column('plant', sa.String(length=64), nullable=False),
    sa.Column('acked_through', sa.BigInteger(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('batches', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('duplicates', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('skipped', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream', name=op.f('pk_streams'))
    )
    op.create_index('ix_streams_edge', 'streams', ['edge'])

    op.create_table('rejected_events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('event_id', BIG_ID, nullable=False),
    sa.Column('edge', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replayed_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_rejected_events_event_id_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_rejected_events_event_id'))
    )
    op.create_index('ix_rejected_events_stream', 'rejected_events', ['stream'])



def downgrade() -> None:
    op.drop_index('ix_rejected_events_stream', table_name='rejected_events')

    op.drop_table('rejected_events')
    op.drop_index('ix_streams_edge', table_name='streams')

    op.drop_table('streams')
    op.drop_table('quarantine')
    op.drop_table('machines')
    op.drop_index('ix_gaps_stream', table_name='gaps')

    op.drop_table('gaps')
    op.drop_index('ix_events_ts', table_name='events')
    op.drop_index('ix_events_machine_ts', table_name='events')

    op.drop_table('events')
    op.drop_table('edges')
    op.drop_index('ix_api_tokens_user', table_name='api_tokens')

    op.drop_table('api_tokens')
    op.drop_index('ix_alerts_key_acked', table_name='alerts')

    op.drop_table('alerts')
