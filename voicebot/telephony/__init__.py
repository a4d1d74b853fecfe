"""The phone line: Twilio webhook, Media Streams protocol and the call session core."""
