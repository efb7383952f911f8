"""Medical imaging: DICOM studies found in stored files, their viewer and
de-identified copies (docs/imaging.md)."""
