"""URL modules of sharing. ``browser`` (namespace "sharing", /sharing/) and ``api``
(namespace "sharing_api", /api/v1/sharing/) gather the per-concept modules (``shares``,
``links``, ``transfers``, ``file_requests``: ``urlpatterns`` for pages,
``api_urlpatterns`` for the API); ``link_public`` (/s/) and ``file_request_public``
(/r/) are what people without an account reach."""
