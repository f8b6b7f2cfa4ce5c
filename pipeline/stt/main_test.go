package stt

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts must have ended when the package's tests finish.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
