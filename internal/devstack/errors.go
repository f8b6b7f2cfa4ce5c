package devstack

import "errors"

// errExitedEarly means a service stopped before it became ready.
var errExitedEarly = errors.New("exited before it was ready")
