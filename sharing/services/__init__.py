"""Sharing's rules and writes, one module per concept: ``shares`` (internal shares),
``links`` (external links, the owner's side), ``link_access`` and ``link_downloads``
(the recipient's side of a link), ``transfers``, ``file_requests``, and the pieces they
share: ``archives`` (streamed ZIPs), ``emails``, ``tokens``, ``offboarding``.

Reads scoped to who asks live in ``sharing.selectors``; HTTP in ``sharing.views``,
``sharing.api``, ``sharing.forms`` and ``sharing.urls``.
"""
