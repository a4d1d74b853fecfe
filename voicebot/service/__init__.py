"""The Flask edge of the phone line: TwiML routes, the Media Streams WebSocket, the records
API, signature checks and `voicebot serve`. All call logic is in voicebot.telephony."""
