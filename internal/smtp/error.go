// Package smtp holds the protocol values shared by posthorn's SMTP server
// and client: reply codes and enhanced status codes (RFC 5321 §4.2,
// RFC 3463), the protocol error type, and ESMTP parameter parsing
// (RFC 5321 §4.1.2, xtext of RFC 3461 §4). It does no I/O.
package smtp

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Enhanced is an enhanced status code class.subject.detail (RFC 3463).
// The zero value means "none given": the reply then uses class.0.0.
type Enhanced [3]int

// String formats e as "5.1.1"; "" for the zero value.
func (e Enhanced) String() string {
	if e == (Enhanced{}) {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

// Error is an SMTP protocol error: the reply a client is given. Err is the
// internal cause; it is logged but never shown to the client.
type Error struct {
	Code     int      // three-digit reply code, 4xx or 5xx
	Enhanced Enhanced // RFC 3463 code; zero: derived from Code
	Msg      string   // human-readable text sent to the client
	Err      error    // internal cause, may be nil
}

// Errorf returns an *Error with a formatted message.
func Errorf(code int, enh Enhanced, format string, args ...any) *Error {
	return &Error{Code: code, Enhanced: enh, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns a copy of e with cause err.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Error returns the reply with the cause, for logs.
func (e *Error) Error() string {
	s := e.Reply()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the client may retry later (a 4xx reply).
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// EnhancedCode returns Enhanced or, when it is zero, class.0.0.
func (e *Error) EnhancedCode() Enhanced {
	if e.Enhanced != (Enhanced{}) {
		return e.Enhanced
	}
	return Enhanced{e.Code / 100, 0, 0}
}

// Reply returns the one-line reply text "550 5.1.1 msg" (without CRLF).
// Line breaks in Msg are replaced by spaces, so a message can never start
// a new reply line.
func (e *Error) Reply() string {
	msg := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, e.Msg)
	return fmt.Sprintf("%03d %s %s", e.Code, e.EnhancedCode(), msg)
}

// AsError returns err as an *Error: err itself if it is or wraps one, else
// a generic temporary local error wrapping err (RFC 5321 451, RFC 3463
// 4.3.0), so internal failures never leak to the client.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return ErrNoStorage.Wrap(err)
	}
	return &Error{Code: 451, Enhanced: Enhanced{4, 3, 0}, Msg: "Local error, please try again later", Err: err}
}

// Common errors. Callers copy them with Wrap or build their own with
// Errorf when the text should name an address.
var (
	// RFC 5321 §4.5.3.1.10, RFC 3463 X.5.3.
	ErrTooManyRecipients = &Error{Code: 452, Enhanced: Enhanced{4, 5, 3}, Msg: "Too many recipients"}
	// RFC 1870 §6.1, RFC 3463 X.3.4.
	ErrMessageTooBig = &Error{Code: 552, Enhanced: Enhanced{5, 3, 4}, Msg: "Message too big"}
	// RFC 3463 X.5.1: bad sequence of commands.
	ErrBadSequence = &Error{Code: 503, Enhanced: Enhanced{5, 5, 1}, Msg: "Bad sequence of commands"}
	// RFC 4954 §6: authentication required.
	ErrAuthRequired = &Error{Code: 530, Enhanced: Enhanced{5, 7, 0}, Msg: "Authentication required"}
	// RFC 4954 §6.
	ErrAuthFailed = &Error{Code: 535, Enhanced: Enhanced{5, 7, 8}, Msg: "Authentication credentials invalid"}
	// RFC 3207 §4, RFC 4954 §4: encryption required for the mechanism.
	ErrEncryptionRequired = &Error{Code: 538, Enhanced: Enhanced{5, 7, 11}, Msg: "Encryption required for requested authentication mechanism"}
	// RFC 5321 §4.2.3 452, RFC 3463 X.3.1: the disk is full. Temporary:
	// the sender retries, and nothing is lost meanwhile.
	ErrNoStorage = &Error{Code: 452, Enhanced: Enhanced{4, 3, 1}, Msg: "Insufficient system storage, please try again later"}
	// Local error.
	ErrLocal = &Error{Code: 451, Enhanced: Enhanced{4, 3, 0}, Msg: "Local error, please try again later"}
)
