"""A timezone on voice profiles, and the engagement model version on each stored prediction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Learning reads posting weekdays and hours in the user's timezone, and the engine suggests
posting times in it; both columns are nullable, so existing profiles read as UTC and
variants stored before this revision as of unknown predictor version.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voice_profiles") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("variants") as batch:
        batch.add_column(
            sa.Column("prediction_model_version", sa.String(length=200), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("prediction_model_version")
    with op.batch_alter_table("voice_profiles") as batch:
        batch.drop_column("timezone")
