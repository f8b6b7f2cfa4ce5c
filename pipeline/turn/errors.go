package turn

import "errors"

// ErrInvalidConfig means a detector setting is out of range; the wrapped
// message names the setting and its range. Match it with errors.Is.
var ErrInvalidConfig = errors.New("invalid turn config")
