package message

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
)

// DecodeTransfer returns a reader of body with the Content-Transfer-Encoding
// encoding (lower-case, as in Part.Encoding) undone (RFC 2045 §6), and
// whether the encoding is known. base64 skips line breaks and other bytes
// outside its alphabet; a malformed encoding ends the decoded data early,
// the same way on every read, instead of failing.
func DecodeTransfer(encoding string, body io.Reader) (io.Reader, bool) {
	switch encoding {
	case "", "7bit", "8bit", "binary":
		return body, true
	case "base64":
		return lenient{base64.NewDecoder(base64.StdEncoding, &b64Filter{r: bufio.NewReader(body)})}, true
	case "quoted-printable":
		return lenient{quotedprintable.NewReader(body)}, true
	}
	return body, false
}

// lenient turns a decoding error into the end of the data.
type lenient struct{ r io.Reader }

func (l lenient) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}

// b64Filter passes only base64 alphabet and padding bytes, so that line
// breaks and junk do not stop the decoder.
type b64Filter struct{ r *bufio.Reader }

func (b *b64Filter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := b.r.ReadByte()
		if err != nil {
			if n == 0 {
				return 0, err
			}
			break
		}
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			p[n] = c
			n++
		}
	}
	return n, nil
}
