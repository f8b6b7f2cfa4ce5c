package openaifake

import (
	"encoding/json"
	"net/http"
)

// WriteAPIError writes OpenAI's JSON error body,
// {"error": {"message", "type", "param", "code"}}, with status. Tests that need an
// answer the fake does not give (a provider's own httptest handler) use it; an empty
// code is sent as null.
func WriteAPIError(w http.ResponseWriter, status int, typ string, param *string, code, message string) {
	var c any
	if code != "" {
		c = code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": message, "type": typ, "param": param, "code": c,
	}})
}

// WriteStatusError answers status with the error body OpenAI sends for it: quota and
// rate limits (429, naming model), server errors (5xx) and invalid requests.
func WriteStatusError(w http.ResponseWriter, status int, code, model string) {
	switch {
	case status == http.StatusTooManyRequests && code == "insufficient_quota":
		WriteAPIError(w, status, "insufficient_quota", nil, code,
			"You exceeded your current quota, please check your plan and billing details.")
	case status == http.StatusTooManyRequests:
		WriteAPIError(w, status, "requests", nil, "rate_limit_exceeded",
			"Rate limit reached for "+model+" on requests per min (RPM): Limit 50, Used 50, Requested 1. Please try again in 1.2s.")
	case status >= 500:
		WriteAPIError(w, status, "server_error", nil, code, "The server had an error while processing your request. Sorry about that!")
	default:
		WriteAPIError(w, status, "invalid_request_error", nil, code, "Invalid request.")
	}
}
