"""Message framing wire structures (RFC 9420 section 6): :mod:`.content` (Sender, FramedContent, the TBS and
AuthenticatedContent) and :mod:`.messages` (PublicMessage, PrivateMessage and its plaintext parts, MLSMessage).

Only structure lives here: signing, membership tags and encryption belong to the message-protection layer.
"""
