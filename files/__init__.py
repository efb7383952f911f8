"""Files: keyring, encrypted storage, versions, uploads and scanning (issues #4, #5)."""
