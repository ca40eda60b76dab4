"""The caller's voice profile: read it, replace it."""

from __future__ import annotations

from fastapi import APIRouter

from prosora_pipelines.api.errors import UNAVAILABLE_RESPONSES
from prosora_pipelines.api.routes import API_PREFIX
from prosora_pipelines.api.security import Context, CurrentCaller, user_of
from prosora_pipelines.lib.appdb.repository import (
    ResolvedVoiceProfile,
    VoiceProfileInput,
    get_voice_profile,
    upsert_voice_profile,
)

router = APIRouter(prefix=API_PREFIX, tags=["profile"], responses=UNAVAILABLE_RESPONSES)


@router.get(
    "/users/me/profile",
    response_model=ResolvedVoiceProfile,
    summary="Your voice profile (the built-in default until you set one)",
)
def read_profile(context: Context, caller: CurrentCaller) -> ResolvedVoiceProfile:
    with context.reads() as session:
        return get_voice_profile(session, user_of(session, caller))


@router.put(
    "/users/me/profile",
    response_model=ResolvedVoiceProfile,
    summary="Replace your voice profile",
)
def replace_profile(
    profile: VoiceProfileInput, context: Context, caller: CurrentCaller
) -> ResolvedVoiceProfile:
    with context.sessions.begin() as session:
        return upsert_voice_profile(session, user_of(session, caller), profile)
