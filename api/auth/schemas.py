import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, JsonValue, StrictInt, StrictStr

from api.schemas import BIGINT_MAX, DELIVERABLE_EMAIL_PATTERN, text

USERNAME_MAX_LENGTH = 50
Password = Annotated[str, Field(min_length=8, max_length=256)]
VERIFICATION_TOKEN_PATTERN = "^[A-Za-z0-9_-]{43}$"  # noqa: S105 (a pattern, not a secret)

if TYPE_CHECKING:  # text() makes an Annotated[str, ...] when the module runs; to mypy the fields are str
    Username = str
    LoginEmail = str
else:
    Username = text(min_length=1, max_length=USERNAME_MAX_LENGTH)
    LoginEmail = text(max_length=320)


class Role(StrEnum):
    USER = "USER"
    SELLER = "SELLER"


class SignupIn(BaseModel):
    email: EmailStr = Field(
        description="Where the verification link is sent; the account logs in once it is followed. "
        "Special-use domains (.test, .invalid, .localhost, .local, .onion, .arpa) receive no mail and are refused.",
        json_schema_extra={"pattern": DELIVERABLE_EMAIL_PATTERN},
    )
    password: Password
    username: Username


class PasswordResetIn(BaseModel):
    email: EmailStr = Field(
        description="The account's email: if a verified account has it, a one-time link to choose a new password is sent there.",
        json_schema_extra={"pattern": DELIVERABLE_EMAIL_PATTERN},
    )


class PasswordResetConfirmIn(BaseModel):
    token: Annotated[str, Field(pattern=VERIFICATION_TOKEN_PATTERN, description="The token of the link mailed.")]
    password: Annotated[Password, Field(description="The new password.")]


class MessageOut(BaseModel):
    detail: str


class LoginIn(BaseModel):
    email: LoginEmail
    password: Annotated[str, Field(max_length=256)]


class VerifyEmailIn(BaseModel):
    token: Annotated[str, Field(pattern=VERIFICATION_TOKEN_PATTERN, description="The token of the link sent at signup.")]
    password: Annotated[
        str,
        Field(
            max_length=256,
            description="The password the signup was made with (the link's page asks for it): the link verifies "
            "the account only for whoever chose its password.",
        ),
    ]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (OAuth 2's token type, not a secret)
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    id: int
    email: str
    username: str
    role: Role
    kakao_linked: bool
    email_verified: bool = Field(description="Whether the owner of the email has proved it; only then can the account log in.")
    created_at: dt.datetime


# What Kakao answers (its REST API documentation of /oauth/token and /v2/user/me): only the
# fields used, strictly typed; anything else in the answer is ignored.


class KakaoAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KakaoTokenIn(KakaoAnswer):
    access_token: Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class KakaoProfileIn(KakaoAnswer):
    nickname: StrictStr | None = None


class KakaoAccountIn(KakaoAnswer):
    email: Annotated[StrictStr, Field(max_length=320)] | None = None
    # Read as is: anything but a JSON true (a string "true", 1) is an unverified email, not an error.
    is_email_verified: JsonValue = None
    profile: KakaoProfileIn | None = None


class KakaoUserInfoIn(KakaoAnswer):
    id: Annotated[StrictInt, Field(ge=1, le=BIGINT_MAX)]
    kakao_account: KakaoAccountIn | None = None
