"""The first schema: users, voice profiles, queries, variants, feedback, learning patterns.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Generated from the models with autogenerate, then reordered by dependency and reviewed.
Timestamps are plain ``DateTime(timezone=True)`` here; the models' ``UtcDateTime`` only
changes how Python values are converted, not what the database stores.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "voice_profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("voice_description", sa.Text(), nullable=False),
        sa.Column("frameworks", sa.JSON(), nullable=False),
        sa.Column("phrases_to_use", sa.JSON(), nullable=False),
        sa.Column("phrases_to_avoid", sa.JSON(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("default_formats", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_voice_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_profiles")),
        sa.UniqueConstraint("user_id", name=op.f("uq_voice_profiles_user_id")),
    )
    op.create_table(
        "queries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("processing_time_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "processing_time_ms >= 0", name=op.f("ck_queries_processing_time_non_negative")
        ),
        sa.CheckConstraint(
            "status IN ('completed', 'partial', 'failed')", name=op.f("ck_queries_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_queries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queries")),
    )
    op.create_index("ix_queries_user_id_created_at", "queries", ["user_id", "created_at"])
    op.create_table(
        "variants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("query_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hook_type", sa.String(length=64), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("predicted_engagement", sa.Float(), nullable=True),
        sa.Column("prediction_reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_variants_position_non_negative")),
        sa.CheckConstraint(
            "predicted_engagement IS NULL OR"
            " (predicted_engagement >= 0 AND predicted_engagement <= 1)",
            name=op.f("ck_variants_predicted_engagement_is_rate"),
        ),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["queries.id"],
            name=op.f("fk_variants_query_id_queries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
        sa.UniqueConstraint("query_id", "position", name=op.f("uq_variants_query_id_position")),
    )
    op.create_table(
        "performance_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("engagement_rate", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "impressions >= 0", name=op.f("ck_performance_feedback_impressions_non_negative")
        ),
        sa.CheckConstraint(
            "reactions >= 0", name=op.f("ck_performance_feedback_reactions_non_negative")
        ),
        sa.CheckConstraint(
            "comments >= 0", name=op.f("ck_performance_feedback_comments_non_negative")
        ),
        sa.CheckConstraint("shares >= 0", name=op.f("ck_performance_feedback_shares_non_negative")),
        sa.CheckConstraint("clicks >= 0", name=op.f("ck_performance_feedback_clicks_non_negative")),
        sa.CheckConstraint(
            "engagement_rate IS NULL OR engagement_rate >= 0",
            name=op.f("ck_performance_feedback_engagement_rate_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_performance_feedback_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_feedback")),
    )
    op.create_index("ix_performance_feedback_variant_id", "performance_feedback", ["variant_id"])
    op.create_table(
        "learning_patterns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("pattern_type", sa.String(length=64), nullable=False),
        sa.Column("pattern_data", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1",
            name=op.f("ck_learning_patterns_confidence_is_probability"),
        ),
        sa.CheckConstraint(
            "usage_count >= 0", name=op.f("ck_learning_patterns_usage_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_learning_patterns_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_patterns")),
    )
    op.create_index(
        "ix_learning_patterns_user_id_pattern_type",
        "learning_patterns",
        ["user_id", "pattern_type"],
    )


def downgrade() -> None:
    op.drop_table("learning_patterns")
    op.drop_table("performance_feedback")
    op.drop_table("variants")
    op.drop_table("queries")
    op.drop_table("voice_profiles")
    op.drop_table("users")
