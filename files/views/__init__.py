"""HTTP of the files app: ``browser`` (the signed-in pages) and ``tus`` (the tus 1.0
upload server, plus the scan badge the upload page polls). The REST API is ``files.api``."""
