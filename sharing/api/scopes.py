"""The token scope every sharing endpoint asks for (docs/api.md).

Reading needs ``read``; anything that gives someone else access (a share, an external
link, a transfer, a file request) needs ``share``: a token made to upload files
(``write``) must not be able to send them outside.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import HasScope


class ReadOrShareScope(BasePermission):
    """Token scope ``read`` for safe methods, ``share`` for changes."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        scope = "read" if request.method in {"GET", "HEAD", "OPTIONS"} else "share"
        check = HasScope(scope)()
        allowed = check.has_permission(request, view)
        self.message = getattr(check, "message", "")
        return allowed
