//go:build !cgo

package stt

import (
	"context"
	"errors"
	"fmt"
)

// errNoCgo explains why Pocketsphinx cannot run in this build.
var errNoCgo = errors.New("built without cgo (CGO_ENABLED=0), so libpocketsphinx is not linked in")

// decoder stands in for the libpocketsphinx decoder in builds without cgo,
// where NewPocketsphinx always fails.
type decoder struct{}

// newDecoder reports that Pocketsphinx needs cgo.
func newDecoder(PocketsphinxConfig) (*decoder, error) {
	return nil, fmt.Errorf("%w: pocketsphinx: %w", ErrProviderUnavailable, errNoCgo)
}

// decode is never reached: no decoder exists without cgo.
func (*decoder) decode(context.Context, []int16) (string, error) {
	return "", errNoCgo
}

// free has nothing to release.
func (*decoder) free() {}
