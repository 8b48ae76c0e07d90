// Package imapwire is the IMAP wire format (RFC 9051 §9, RFC 3501 §9) for
// a server: framing a command with its literals off the connection
// (Reader), parsing command arguments into typed values (Parser and the
// Parse* functions), and writing responses (Writer). It knows nothing about
// mailboxes or sessions and imports only the standard library.
//
// Framing and parsing are separate on purpose: Reader does the I/O and the
// limits (line length, literal and command size, continuation requests),
// and yields a Command whose Args hold the rest of the command with its
// literals inline; the parsers are pure functions of those bytes, which
// makes them easy to table-test and fuzz.
package imapwire
