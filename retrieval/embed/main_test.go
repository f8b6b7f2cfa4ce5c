package embed

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts (fake servers, client connections) must
// have ended when the package's tests finish.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
