package httpserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
)

// mobileconfig serves an unsigned Apple configuration profile with one
// email account payload (com.apple.mail.managed) for the address in the
// emailaddress parameter: IMAP on 993 and SMTP on 465, both over TLS,
// the address as user name. The password is asked for on installation.
func (h *handler) mobileconfig(w http.ResponseWriter, r *http.Request) {
	a, ok := parseAddress(w, r.URL.Query().Get("emailaddress"))
	if !ok {
		return
	}
	if _, ok := h.domain(w, r, a.Domain.ASCII); !ok {
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+a.Domain.ASCII+`.mobileconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(h.profile(a))
}

// profile returns the plist. Identifiers and UUIDs are derived from the
// host and address, so downloading it again replaces the installed
// profile instead of adding a second one.
func (h *handler) profile(a addr.Address) []byte {
	email := a.ASCIIString()
	host := h.opt.Hostname.ASCII
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	id := strings.Join(labels, ".") + ".posthorn.mail." + nameHash(email)[:16]
	account := dict{
		{"EmailAccountDescription", email},
		{"EmailAccountType", "EmailTypeIMAP"},
		{"EmailAddress", email},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", host},
		{"IncomingMailServerPortNumber", portIMAPS},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", email},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", host},
		{"OutgoingMailServerPortNumber", portSubmissions},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", email},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + email},
		{"PayloadDisplayName", email},
		{"PayloadIdentifier", id + ".account"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", nameUUID(id + ".account")},
		{"PayloadVersion", 1},
	}
	profile := dict{
		{"PayloadContent", []any{account}},
		{"PayloadDescription", "Sets up the mail account " + email + " on " + host + "."},
		{"PayloadDisplayName", "Mail: " + email},
		{"PayloadIdentifier", id},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", nameUUID(id)},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, profile, 0)
	b.WriteString("</plist>\n")
	return b.Bytes()
}

// dict is a plist dictionary with its keys in order.
type dict []kv

type kv struct {
	key   string
	value any
}

// writePlist writes v (string, int, bool, dict or []any) as plist XML,
// escaping text.
func writePlist(b *bytes.Buffer, v any, depth int) {
	indent := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case string:
		b.WriteString(indent + "<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>\n")
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", indent, v)
	case bool:
		fmt.Fprintf(b, "%s<%t/>\n", indent, v)
	case []any:
		b.WriteString(indent + "<array>\n")
		for _, e := range v {
			writePlist(b, e, depth+1)
		}
		b.WriteString(indent + "</array>\n")
	case dict:
		b.WriteString(indent + "<dict>\n")
		for _, e := range v {
			b.WriteString(indent + "\t<key>")
			xml.EscapeText(b, []byte(e.key))
			b.WriteString("</key>\n")
			writePlist(b, e.value, depth+1)
		}
		b.WriteString(indent + "</dict>\n")
	default:
		panic(fmt.Sprintf("plist: unsupported type %T", v))
	}
}

func nameHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:])
}

// nameUUID is a name-based UUID (RFC 9562 §5.8 layout, version 8) of s.
func nameUUID(s string) string {
	sum := sha256.Sum256([]byte("posthorn mobileconfig " + s))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}
