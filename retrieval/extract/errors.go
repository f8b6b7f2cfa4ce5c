package extract

import "errors"

// Sentinel errors. Extract returns them wrapped in an *Error that says, in
// words a person uploading the file understands, what is wrong; match them
// with errors.Is.
var (
	// ErrUnsupported means the file is not one of the formats Extract reads
	// (PDF, Markdown, plain text, HTML, DOCX).
	ErrUnsupported = errors.New("unsupported file type")
	// ErrTooLarge means the file, its page count, its unpacked contents or
	// its extracted text is over a limit in Limits.
	ErrTooLarge = errors.New("file too large")
	// ErrMalformed means the file claims a supported format but cannot be
	// read as one: damaged, truncated, encrypted or wrongly encoded.
	ErrMalformed = errors.New("malformed file")
	// ErrEmpty means the file was read but holds no text (an empty file, a
	// scanned PDF without a text layer, a document of images).
	ErrEmpty = errors.New("no text in file")
)

// Error is the error Extract returns. Its message is File and Problem, for
// the person who uploaded the file; Kind is one of the sentinel errors and
// Cause, when set, is the underlying library error, kept for logs and
// reachable through errors.Is and errors.As but not part of the message.
type Error struct {
	File    string
	Problem string
	Kind    error
	Cause   error
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Problem
	}
	return e.File + ": " + e.Problem
}

// Unwrap returns Kind and, when set, Cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// problem builds an *Error without a file name; Extract adds the name.
func problem(kind error, cause error, msg string) *Error {
	return &Error{Problem: msg, Kind: kind, Cause: cause}
}
