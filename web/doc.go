// Package web serves Attendant's browser-facing pages.
//
// The join pages let a person into a meeting room with the livekit-client
// browser SDK. The development page (NewJoinHandler, used by "attendant dev")
// asks for a name and gets a LiveKit token from POST /token. The invitation
// page (RenderLinkPage, served by the control plane at /join/{token}) asks for
// the invitation's 8-digit password and gets the token from the control plane,
// as JSON when the page's script posts it, or in the page itself after a plain
// form post. Both show the same meeting view once joined: who is in the room,
// whether the assistant is listening or speaking, a running transcript built
// from the worker's captions (the "lk.transcription" text streams), a chat box
// whose messages go out on "lk.chat", and the microphone's switch.
//
// The livekit-client UMD bundle is not embedded; it is installed by npm
// ("make deps" runs "npm ci" in this folder) and served from an assets folder
// (JoinConfig.AssetsDir, or JoinAssets's argument). Everything else the pages
// need (templates, script and stylesheet) is embedded in the binary.
package web
