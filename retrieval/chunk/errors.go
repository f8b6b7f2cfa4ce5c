package chunk

import "errors"

// ErrInvalidConfig means a Config with negative values or an overlap not
// smaller than the chunk size. Split wraps it with the details.
var ErrInvalidConfig = errors.New("invalid chunk config")
