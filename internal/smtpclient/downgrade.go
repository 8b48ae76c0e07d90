package smtpclient

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// errDowngrade: an 8-bit message cannot be converted to 7 bits. It happens
// for 8-bit header fields (they need SMTPUTF8, RFC 6532), an 8-bit
// message/global part, an 8-bit body declared base64 or quoted-printable,
// or MIME too deeply nested.
var errDowngrade = errors.New("smtpclient: message cannot be converted to 7-bit")

const maxMIMEDepth = 20

// downgrade converts an 8BITMIME message to 7 bits for a server without
// 8BITMIME (RFC 6152 §3: convert or bounce). Leaf parts with 8-bit octets
// (or lines over 998 octets) are re-encoded: text/* as quoted-printable,
// anything else as base64, and their Content-Transfer-Encoding replaced;
// multipart and message/rfc822 parts are converted recursively and
// relabelled 7bit (RFC 2045 §6.4 forbids encoding composite types). The
// message is converted in memory; the result has CRLF line ends.
func downgrade(raw []byte) ([]byte, error) {
	var n normalizer
	msg := n.finish(n.append(nil, raw))
	out, err := downgradeMessage(msg, 0)
	if err == nil && has8bit(out) {
		// 8-bit octets outside any part: a preamble, an epilogue, or a
		// multipart body without delimiters.
		return nil, fmt.Errorf("%w: 8-bit octets outside the MIME parts", errDowngrade)
	}
	return out, err
}

// downgradeMessage converts header+body (CRLF).
func downgradeMessage(msg []byte, depth int) ([]byte, error) {
	hdr, body := splitEntity(msg)
	hdr, body, err := downgradeEntity(hdr, body, depth)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(hdr)+2+len(body))
	out = append(out, hdr...)
	out = append(out, "\r\n"...)
	return append(out, body...), nil
}

// splitEntity splits at the first empty line: the header keeps its last
// CRLF; the empty line is dropped.
func splitEntity(b []byte) (hdr, body []byte) {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return nil, b[2:]
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[:i+2], b[i+4:]
	}
	return b, nil
}

func downgradeEntity(hdr, body []byte, depth int) ([]byte, []byte, error) {
	if depth > maxMIMEDepth {
		return nil, nil, fmt.Errorf("%w: MIME nested too deeply", errDowngrade)
	}
	if has8bit(hdr) {
		return nil, nil, fmt.Errorf("%w: a header field holds 8-bit characters", errDowngrade)
	}
	mt, params, err := mime.ParseMediaType(headerValue(hdr, "Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	cte := strings.ToLower(strings.TrimSpace(headerValue(hdr, "Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "":
		body, err = downgradeMultipart(body, params["boundary"], depth)
	case mt == "message/rfc822":
		body, err = downgradeMessage(body, depth+1)
	case !needsEncoding(body) && cte != "binary":
		return hdr, body, nil
	case cte == "base64" || cte == "quoted-printable":
		return nil, nil, fmt.Errorf("%w: a %s part holds 8-bit octets", errDowngrade, cte)
	case strings.HasPrefix(mt, "message/") || strings.HasPrefix(mt, "multipart/"):
		return nil, nil, fmt.Errorf("%w: an 8-bit %s part", errDowngrade, mt)
	case strings.HasPrefix(mt, "text/"):
		return setHeader(hdr, "Content-Transfer-Encoding", "quoted-printable"), encodeQP(body), nil
	default:
		return setHeader(hdr, "Content-Transfer-Encoding", "base64"), encodeBase64(body), nil
	}
	if err != nil {
		return nil, nil, err
	}
	if cte == "8bit" || cte == "binary" {
		hdr = setHeader(hdr, "Content-Transfer-Encoding", "7bit")
	}
	return hdr, body, nil
}

// downgradeMultipart converts each body part between the delimiter lines,
// keeping preamble, delimiters and epilogue as they are (RFC 2046 §5.1.1).
func downgradeMultipart(body []byte, boundary string, depth int) ([]byte, error) {
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
					conv, err := downgradePart(body[partStart:contentEnd], depth)
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
		conv, err := downgradePart(body[partStart:], depth)
		if err != nil {
			return nil, err
		}
		return append(out, conv...), nil
	}
	return append(out, body[partStart:]...), nil // epilogue
}

func downgradePart(b []byte, depth int) ([]byte, error) {
	hdr, body := splitEntity(b)
	if hdr == nil && !bytes.HasPrefix(b, []byte("\r\n")) {
		return b, nil
	}
	hdr, body, err := downgradeEntity(hdr, body, depth+1)
	if err != nil {
		return nil, err
	}
	return append(append(append([]byte(nil), hdr...), "\r\n"...), body...), nil
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0 {
			return true
		}
	}
	return false
}

// needsEncoding: 8-bit octets, NUL, or a line over 998 octets (RFC 5321
// §4.5.3.1.6).
func needsEncoding(b []byte) bool {
	if has8bit(b) {
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

func encodeQP(b []byte) []byte {
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

func encodeBase64(b []byte) []byte {
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
func fields(hdr []byte) [][]byte {
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

func fieldName(f []byte) string {
	name, _, _ := bytes.Cut(f, []byte(":"))
	return strings.TrimSpace(string(name))
}

// headerValue returns the unfolded value of the first field called name.
func headerValue(hdr []byte, name string) string {
	for _, f := range fields(hdr) {
		if strings.EqualFold(fieldName(f), name) {
			_, v, _ := bytes.Cut(f, []byte(":"))
			v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}

// setHeader removes every field called name and appends "name: value".
func setHeader(hdr []byte, name, value string) []byte {
	var out []byte
	for _, f := range fields(hdr) {
		if !strings.EqualFold(fieldName(f), name) {
			out = append(out, f...)
		}
	}
	return append(out, name+": "+value+"\r\n"...)
}
