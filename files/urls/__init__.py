"""URL modules of the files app: ``browser`` (/files/), ``api`` (/api/v1/files/) and
``tus`` (/api/v1/uploads/)."""
