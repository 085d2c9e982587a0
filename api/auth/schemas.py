import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field

from api.schemas import text

Password = Annotated[str, Field(min_length=8, max_length=256)]


class Role(StrEnum):
    USER = "USER"
    SELLER = "SELLER"


class SignupIn(BaseModel):
    email: EmailStr = Field(
        description="A deliverable address: special-use domains (.test, .invalid, .localhost...) are refused."
    )
    password: Password
    username: text(min_length=1, max_length=50)


class LoginIn(BaseModel):
    email: text(max_length=320)
    password: Annotated[str, Field(max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    id: int
    email: str
    username: str
    role: Role
    kakao_linked: bool
    created_at: dt.datetime
