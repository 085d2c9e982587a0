"""Dependencies shared by every domain."""

from typing import Annotated

from fastapi import Depends, Request

from settlement.config import Settings


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]
