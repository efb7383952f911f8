"""Sharing models, one module per concept (docs/sharing-shares.md, sharing-links.md,
sharing-transfers.md).

* ``policy``: the site's sharing policy (one row), set by site administrators.
* ``shares``: internal shares of a file or folder with a person or a team.
* ``links``: external links (capability URLs) to a file, a folder or a transfer, and
  what recipients did with them (verification codes, downloads).
* ``transfers``: files sent to named recipients, each with a personal link, and the
  files and versions as they were sent.
* ``requests``: file requests, through which someone outside uploads into a folder.
"""

from sharing.models.links import ShareLink, ShareLinkCode, ShareLinkDownload
from sharing.models.policy import ExternalSharing, SharingPolicy
from sharing.models.requests import FileRequest, FileRequestUpload
from sharing.models.shares import Share, ShareRole
from sharing.models.transfers import Transfer, TransferItem

__all__ = [
    "ExternalSharing",
    "FileRequest",
    "FileRequestUpload",
    "Share",
    "ShareLink",
    "ShareLinkCode",
    "ShareLinkDownload",
    "ShareRole",
    "SharingPolicy",
    "Transfer",
    "TransferItem",
]
