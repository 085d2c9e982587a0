"""Dependencies shared by every domain."""

from typing import Annotated

from fastapi import Depends, Request

from api.config import ApiSettings


async def app_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


AppSettings = Annotated[ApiSettings, Depends(app_settings)]
