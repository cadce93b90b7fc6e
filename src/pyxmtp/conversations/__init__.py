"""XMTP's conversation layer on top of the MLS core, sans-IO: the XMTP credential, key packages, welcome wrapping
(:mod:`.welcome_wrap`), group-context metadata (:mod:`.group_context`), membership against identity logs
(:mod:`.membership`), content types and envelopes (:mod:`.content`), and a conversation's message processing
(:mod:`.conversation`)."""
