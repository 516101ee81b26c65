package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// APIError is an error answer of the API in the contract's shape
// {"error": {"code", "message", "details", "request_id"}}.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	Details    map[string]interface{}
	RequestID  string
	// RetryAfter is the server's Retry-After (429/503), zero when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("hybridcloud: %d %s: %s (request_id %s)", e.StatusCode, e.Code, e.Message, e.RequestID)
}

// ConnectionError means the API could not be reached at all (refused, reset, timed out).
type ConnectionError struct{ Err error }

func (e *ConnectionError) Error() string {
	return "hybridcloud: the API is unreachable: " + e.Err.Error()
}
func (e *ConnectionError) Unwrap() error { return e.Err }

// ErrNotAvailable is matched (errors.Is) by answers 404 NOT_FOUND for a route or 501 from a
// server that does not offer an endpoint yet.
var ErrNotAvailable = errors.New("hybridcloud: not available on this server")

// Is lets errors.Is(err, ErrNotAvailable) recognise an endpoint the server does not have.
func (e *APIError) Is(target error) bool {
	if target != ErrNotAvailable {
		return false
	}
	return e.StatusCode == http.StatusNotImplemented || (e.StatusCode == http.StatusNotFound && e.Code == "NOT_FOUND")
}

// IsNotFound reports whether err is a 404 answer (any *_NOT_FOUND code).
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}

// decodeError turns a non-2xx response into an *APIError, closing its body. A body that is not
// in the contract's shape (a proxy's HTML page) still yields the status and a code from it.
func decodeError(resp *http.Response) *APIError {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	apiErr := &APIError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	var body ErrorBody
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		apiErr.Code = body.Error.Code
		apiErr.Message = body.Error.Message
		apiErr.Details = body.Error.Details
		apiErr.RequestID = body.Error.RequestID
	} else {
		apiErr.Code = fallbackCode(resp.StatusCode)
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	if apiErr.RequestID == "" {
		apiErr.RequestID = resp.Header.Get("X-Request-ID")
	}
	return apiErr
}

func fallbackCode(status int) string {
	switch status {
	case 400:
		return "INVALID_REQUEST"
	case 401:
		return "UNAUTHORIZED"
	case 403:
		return "FORBIDDEN"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "CONFLICT"
	case 429:
		return "RATE_LIMITED"
	case 501:
		return "NOT_IMPLEMENTED"
	case 503:
		return "SERVICE_UNAVAILABLE"
	}
	return "INTERNAL_ERROR"
}
