package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// ErrNot7Bit: an 8-bit message cannot be converted to 7 bits. It happens
// for 8-bit header fields (they need SMTPUTF8, RFC 6532), an 8-bit
// message/global part, an 8-bit body declared base64 or quoted-printable,
// or MIME too deeply nested.
var ErrNot7Bit = errors.New("message: cannot be converted to 7-bit")

const max7BitDepth = 20

// To7Bit converts an 8BITMIME message to 7 bits (RFC 6152 §3: a client
// facing a server without 8BITMIME converts or bounces; a signer converts
// before signing so that no later conversion breaks its signature). Leaf
// parts with 8-bit octets (or lines over 998 octets) are re-encoded:
// text/* as quoted-printable, anything else as base64, and their
// Content-Transfer-Encoding replaced; multipart and message/rfc822 parts
// are converted recursively and relabelled 7bit (RFC 2045 §6.4 forbids
// encoding composite types). Parts that need no conversion are kept byte
// for byte. The message is converted in memory; the result has CRLF line
// ends (a bare CR or LF becomes CRLF).
func To7Bit(raw []byte) ([]byte, error) {
	msg := toCRLF(raw)
	out, err := sevenMessage(msg, 0)
	if err == nil && has8BitOrNUL(out) {
		// 8-bit octets outside any part: a preamble, an epilogue, or a
		// multipart body without delimiters.
		return nil, fmt.Errorf("%w: 8-bit octets outside the MIME parts", ErrNot7Bit)
	}
	return out, err
}

// toCRLF rewrites every line end (CRLF, bare LF, bare CR) to CRLF and ends
// the last line.
func toCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// sevenMessage converts header+body (CRLF).
func sevenMessage(msg []byte, depth int) ([]byte, error) {
	hdr, body := sevenSplit(msg)
	hdr, body, err := sevenEntity(hdr, body, depth)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(hdr)+2+len(body))
	out = append(out, hdr...)
	out = append(out, "\r\n"...)
	return append(out, body...), nil
}

// sevenSplit splits at the first empty line: the header keeps its last
// CRLF; the empty line is dropped.
func sevenSplit(b []byte) (hdr, body []byte) {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return nil, b[2:]
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[:i+2], b[i+4:]
	}
	return b, nil
}

func sevenEntity(hdr, body []byte, depth int) ([]byte, []byte, error) {
	if depth > max7BitDepth {
		return nil, nil, fmt.Errorf("%w: MIME nested too deeply", ErrNot7Bit)
	}
	if has8BitOrNUL(hdr) {
		return nil, nil, fmt.Errorf("%w: a header field holds 8-bit characters", ErrNot7Bit)
	}
	mt, params, err := mime.ParseMediaType(sevenHeaderValue(hdr, "Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	cte := strings.ToLower(strings.TrimSpace(sevenHeaderValue(hdr, "Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "":
		body, err = sevenMultipart(body, params["boundary"], depth)
	case mt == "message/rfc822":
		body, err = sevenMessage(body, depth+1)
	case !sevenNeedsEncoding(body) && cte != "binary":
		return hdr, body, nil
	case cte == "base64" || cte == "quoted-printable":
		return nil, nil, fmt.Errorf("%w: a %s part holds 8-bit octets", ErrNot7Bit, cte)
	case strings.HasPrefix(mt, "message/") || strings.HasPrefix(mt, "multipart/"):
		return nil, nil, fmt.Errorf("%w: an 8-bit %s part", ErrNot7Bit, mt)
	case strings.HasPrefix(mt, "text/"):
		return sevenSetHeader(hdr, "Content-Transfer-Encoding", "quoted-printable"), sevenQP(body), nil
	default:
		return sevenSetHeader(hdr, "Content-Transfer-Encoding", "base64"), sevenBase64(body), nil
	}
	if err != nil {
		return nil, nil, err
	}
	if cte == "8bit" || cte == "binary" {
		hdr = sevenSetHeader(hdr, "Content-Transfer-Encoding", "7bit")
	}
	return hdr, body, nil
}

// sevenMultipart converts each body part between the delimiter lines,
// keeping preamble, delimiters and epilogue as they are (RFC 2046 §5.1.1).
func sevenMultipart(body []byte, boundary string, depth int) ([]byte, error) {
	delim := []byte("--" + boundary)
	var out []byte
	partStart := -1 // start of the current part's content
	closed := false
	for i := 0; i < len(body) && !closed; {
		j := bytes.Index(body[i:], []byte("\r\n"))
		end := len(body)
		if j >= 0 {
			end = i + j
		}
		line := body[i:end]
		next := min(end+2, len(body))
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			rest = bytes.TrimRight(rest, " \t")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if partStart < 0 {
					out = append(out, body[:i]...) // preamble
				} else {
					contentEnd := max(i-2, partStart) // the CRLF before belongs to the delimiter
					conv, err := sevenPart(body[partStart:contentEnd], depth)
					if err != nil {
						return nil, err
					}
					out = append(append(out, conv...), body[contentEnd:i]...)
				}
				out = append(out, body[i:next]...)
				partStart = next
				closed = len(rest) == 2
				i = next
				continue
			}
		}
		i = next
	}
	if partStart < 0 {
		return body, nil // no delimiter at all: leave as is
	}
	if !closed {
		conv, err := sevenPart(body[partStart:], depth)
		if err != nil {
			return nil, err
		}
		return append(out, conv...), nil
	}
	return append(out, body[partStart:]...), nil // epilogue
}

func sevenPart(b []byte, depth int) ([]byte, error) {
	hdr, body := sevenSplit(b)
	if hdr == nil && !bytes.HasPrefix(b, []byte("\r\n")) {
		return b, nil
	}
	hdr, body, err := sevenEntity(hdr, body, depth+1)
	if err != nil {
		return nil, err
	}
	return append(append(append([]byte(nil), hdr...), "\r\n"...), body...), nil
}

func has8BitOrNUL(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0 {
			return true
		}
	}
	return false
}

// sevenNeedsEncoding: 8-bit octets, NUL, or a line over 998 octets (RFC 5321
// §4.5.3.1.6).
func sevenNeedsEncoding(b []byte) bool {
	if has8BitOrNUL(b) {
		return true
	}
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			i = len(b)
		}
		if i > 998 {
			return true
		}
		b = b[min(i+2, len(b)):]
	}
	return false
}

func sevenQP(b []byte) []byte {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	w.Write(b)
	w.Close()
	out := buf.Bytes()
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, "\r\n"...)
	}
	return out
}

func sevenBase64(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out []byte
	for len(enc) > 76 {
		out = append(append(out, enc[:76]...), "\r\n"...)
		enc = enc[76:]
	}
	if enc != "" {
		out = append(append(out, enc...), "\r\n"...)
	}
	return out
}

// fields splits a header block into its fields, each with its
// continuation lines and final CRLF.
func sevenFields(hdr []byte) [][]byte {
	var out [][]byte
	for len(hdr) > 0 {
		end := 0
		for {
			i := bytes.Index(hdr[end:], []byte("\r\n"))
			if i < 0 {
				end = len(hdr)
				break
			}
			end += i + 2
			if end >= len(hdr) || hdr[end] != ' ' && hdr[end] != '\t' {
				break
			}
		}
		out = append(out, hdr[:end])
		hdr = hdr[end:]
	}
	return out
}

func sevenFieldName(f []byte) string {
	name, _, _ := bytes.Cut(f, []byte(":"))
	return strings.TrimSpace(string(name))
}

// sevenHeaderValue returns the unfolded value of the first field called name.
func sevenHeaderValue(hdr []byte, name string) string {
	for _, f := range sevenFields(hdr) {
		if strings.EqualFold(sevenFieldName(f), name) {
			_, v, _ := bytes.Cut(f, []byte(":"))
			v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}

// sevenSetHeader removes every field called name and appends "name: value".
func sevenSetHeader(hdr []byte, name, value string) []byte {
	var out []byte
	for _, f := range sevenFields(hdr) {
		if !strings.EqualFold(sevenFieldName(f), name) {
			out = append(out, f...)
		}
	}
	return append(out, name+": "+value+"\r\n"...)
}
