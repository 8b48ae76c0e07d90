package imapserver

import (
	"io"
	"mime"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/message"
)

// ENVELOPE, BODYSTRUCTURE and PREVIEW (RFC 9051 §7.5.2, RFC 8970).

// envString writes an envelope or body string: NIL when empty. Without
// UTF-8 on the session, non-ASCII text goes back into RFC 2047 words,
// which is what IMAP4rev1 clients expect there.
func (s *session) envString(v string) {
	if v == "" {
		s.w.Raw("NIL")
		return
	}
	if !s.utf8 && !isASCII(v) {
		v = mime.BEncoding.Encode("utf-8", v)
	}
	s.w.String(v)
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (s *session) writeEnvelope(e *message.Envelope) {
	if e == nil {
		e = &message.Envelope{}
	}
	w := s.w
	w.Byte('(')
	s.envString(e.Date)
	w.SP()
	s.envString(e.Subject)
	for _, list := range [][]message.EnvAddress{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		s.writeAddrs(list)
	}
	w.SP()
	s.envString(e.InReplyTo)
	w.SP()
	s.envString(e.MessageID)
	w.Byte(')')
}

func (s *session) writeAddrs(list []message.EnvAddress) {
	if len(list) == 0 {
		s.w.Raw("NIL")
		return
	}
	s.w.Byte('(')
	for _, a := range list {
		s.w.Byte('(')
		s.envString(a.Name)
		s.w.SP()
		s.envString(a.Adl)
		s.w.SP()
		s.envString(a.Mailbox)
		s.w.SP()
		s.envString(a.Host)
		s.w.Byte(')')
	}
	s.w.Byte(')')
}

// writeBodyStructure writes BODYSTRUCTURE (ext) or BODY.
func (s *session) writeBodyStructure(p *message.Part, ext bool) {
	w := s.w
	if p.IsMultipart() && len(p.Parts) > 0 {
		w.Byte('(')
		for _, c := range p.Parts {
			s.writeBodyStructure(c, ext)
		}
		w.SP()
		w.String(p.MediaSubtype)
		if ext {
			w.SP()
			s.writeParams(p.Params)
			w.SP()
			s.writeExt(p)
		}
		w.Byte(')')
		return
	}
	w.Byte('(')
	w.String(p.MediaType)
	w.SP()
	w.String(p.MediaSubtype)
	w.SP()
	s.writeParams(p.Params)
	w.SP()
	s.envString(p.ID)
	w.SP()
	s.envString(p.Description)
	w.SP()
	w.String(strings.ToUpper(orStr(p.Encoding, "7bit")))
	w.SP()
	w.Number(uint64(p.Size()))
	switch {
	case p.Message != nil:
		w.SP()
		s.writeEnvelope(p.Message.Envelope)
		w.SP()
		s.writeBodyStructure(p.Message, ext)
		w.SP()
		w.Number(uint64(p.Lines))
	case p.MediaType == "text":
		w.SP()
		w.Number(uint64(p.Lines))
	}
	if ext {
		w.SP()
		s.envString(p.MD5)
		w.SP()
		s.writeExt(p)
	}
	w.Byte(')')
}

// writeExt writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (s *session) writeExt(p *message.Part) {
	w := s.w
	if p.Disposition == "" {
		w.Raw("NIL")
	} else {
		w.Byte('(')
		w.String(p.Disposition)
		w.SP()
		s.writeParams(p.DispositionParams)
		w.Byte(')')
	}
	w.SP()
	if len(p.Language) == 0 {
		w.Raw("NIL")
	} else {
		w.Byte('(')
		for i, l := range p.Language {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.Byte(')')
	}
	w.SP()
	s.envString(p.Location)
}

func (s *session) writeParams(m map[string]string) {
	if len(m) == 0 {
		s.w.Raw("NIL")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s.w.Byte('(')
	for i, k := range keys {
		if i > 0 {
			s.w.SP()
		}
		k, v := k, m[k]
		if !s.utf8 && !isASCII(v) {
			// The parse decoded RFC 2231; a quoted string of an IMAP4rev1
			// session must stay 7-bit, so encode it again (RFC 2231 §4).
			k, v = k+"*", "utf-8''"+rfc2231Escape(v)
		}
		s.w.String(k)
		s.w.SP()
		s.w.String(v)
	}
	s.w.Byte(')')
}

// rfc2231Escape percent-encodes what RFC 2231 §7 does not allow in an
// extended parameter value.
func rfc2231Escape(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune("*'%()<>@,;:\\\"/[]?=", rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// previewLen is the longest PREVIEW in characters (RFC 8970 §3.1: at most 256).
const previewLen = 200

// writePreview writes PREVIEW: the start of the first text/plain part (or
// text/html with its tags removed), whitespace collapsed; NIL without text.
func (f *fetcher) writePreview() error {
	f.s.w.Raw("PREVIEW ")
	var text *message.Part
	f.root.Walk(func(p *message.Part) bool {
		if p.MediaType == "text" && (p.MediaSubtype == "plain" || p.MediaSubtype == "html") && p.Disposition != "attachment" {
			if text == nil || text.MediaSubtype == "html" && p.MediaSubtype == "plain" {
				text = p
			}
			return p.MediaSubtype != "plain"
		}
		return true
	})
	if text == nil {
		f.s.w.Raw("NIL")
		return nil
	}
	r, err := f.decoded(text, false)
	if err != nil {
		return err
	}
	if r == nil {
		f.s.w.Raw("NIL")
		return nil
	}
	buf := make([]byte, 8<<10)
	n, _ := io.ReadFull(r, buf)
	str, err := message.DecodeCharset(text.Params["charset"], buf[:n])
	if err != nil {
		str = strings.ToValidUTF8(string(buf[:n]), "")
	}
	if text.MediaSubtype == "html" {
		str = stripTags(str)
	}
	f.s.envStringEmpty(collapse(str, previewLen))
	return nil
}

// envStringEmpty is envString but writes "" rather than NIL.
func (s *session) envStringEmpty(v string) {
	if v == "" {
		s.w.Raw(`""`)
		return
	}
	if !s.utf8 && !isASCII(v) {
		// PREVIEW is UTF-8 text (RFC 8970 §3.1) and goes as a literal.
		s.w.Raw("{" + u64(uint64(len(v))) + "}\r\n" + v)
		return
	}
	s.w.String(v)
}

// collapse folds whitespace runs into one space and cuts at max runes.
func collapse(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range strings.TrimSpace(s) {
		if r == utf8.RuneError || unicode.IsControl(r) && !unicode.IsSpace(r) {
			continue
		}
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
