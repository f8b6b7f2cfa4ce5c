// Package browser launches Debian's headless Chromium for end-to-end tests.
//
// Launch starts a browser at a URL with a throwaway profile, fake media
// devices (optionally fed from a WAV file as the microphone) and autoplay
// allowed, in its own process group so that Close can end the whole process
// tree. Browser.Eval evaluates JavaScript in the open page over the DevTools
// protocol, which lets tests read a page's state. Screenshot renders a page
// to a PNG file, which helps to look at pages while developing them.
//
// The binary is /usr/bin/chromium unless Options.Binary or $CHROMIUM says
// otherwise; "make deps" installs it.
package browser
