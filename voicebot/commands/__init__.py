"""The `voicebot` sub-commands: the command-line edge, one module per kind of user. They
sit above every layer, so a command may join them (validate checks a flow against an engine)."""
