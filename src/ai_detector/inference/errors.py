"""Errors a client can cause, each with the HTTP status a server should answer with.

Everything that can go wrong because of the input (as opposed to a bug or a broken
model) is an :class:`InputError`. The server turns it into a 4xx JSON answer, the
batch CLI into a row with an ``error`` column, the bot into a friendly message.
"""

from __future__ import annotations


class InputError(ValueError):
    """The input cannot be classified; ``status`` is the HTTP status to answer with."""

    status: int = 400
    code: str = "bad_input"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"code": self.status, "type": self.code, "message": self.message}


class EmptyInputError(InputError):
    code = "empty_input"


class NotAnImageError(InputError):
    status = 415
    code = "not_an_image"


class FormEncodedBodyError(InputError):
    """The body came as a URL-encoded form, which the frontend decodes (and mangles)."""

    status = 415
    code = "unsupported_media_type"


class CorruptImageError(InputError):
    status = 422
    code = "corrupt_image"


class ImageTooSmallError(InputError):
    status = 422
    code = "image_too_small"


class ImageTooLargeError(InputError):
    status = 413
    code = "image_too_large"


class NoExplanationError(InputError):
    """The served model file has no class-activation outputs: not the client's fault."""

    status = 501
    code = "no_explanation"
