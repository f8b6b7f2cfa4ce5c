//go:build !cgo

package stt

import (
	"errors"
	"strings"
	"testing"
)

func TestNewPocketsphinxWithoutCgo(t *testing.T) {
	p, err := NewPocketsphinx(PocketsphinxConfig{})
	if p != nil || !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(err.Error(), "cgo") {
		t.Errorf("NewPocketsphinx() = %v, %v; want ErrProviderUnavailable explaining that cgo is off", p, err)
	}
}
