//! Rendering of configs and links into pictures (QR codes). Pure: bytes in, bytes out.
