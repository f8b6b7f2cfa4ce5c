// Package web serves Attendant's browser-facing pages.
//
// For now it holds the join page used by "attendant dev": a small HTML page
// where a person types a name, receives a LiveKit access token from the
// server and joins the meeting room with the livekit-client browser SDK.
// Once joined, it shows who is in the room, a running transcript built from
// the worker's captions (the "lk.transcription" text streams) and a chat box
// whose messages go out on "lk.chat". It will grow into the control plane
// later.
//
// The livekit-client UMD bundle is not embedded; it is installed by npm
// ("make deps" runs "npm ci" in this folder) and served from
// JoinConfig.AssetsDir. Everything else the page needs (template, script and
// stylesheet) is embedded in the binary.
package web
