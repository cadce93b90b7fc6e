"""``pyxmtp inspect``'s decoders, sans I/O: bytes in, a described tree out (:mod:`.tree` renders it).

- :mod:`.kinds`: the payload kinds, strict decoding of one and guessing (:func:`~.kinds.guess`);
- :mod:`.mls`, :mod:`.xmtp`, :mod:`.content`, :mod:`.xmtp_extensions`: the describers;
- :mod:`.home` and :mod:`.read`: what one installation's keys read in a payload (read-only, on copies);
- :mod:`.inputs`: hex, base64, files and stdin.
"""
