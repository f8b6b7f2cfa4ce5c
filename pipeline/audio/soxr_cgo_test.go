//go:build cgo

package audio

// haveSoxr reports whether Resample runs on libsoxr (cgo builds).
const haveSoxr = true
