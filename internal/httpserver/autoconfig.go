package httpserver

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
)

// Client configuration: the servers and ports every format advertises.
// IMAP and submission over implicit TLS are preferred (RFC 8314 §3),
// STARTTLS offered as the fallback; the user name is the address.
const (
	portIMAPS       = 993
	portIMAP        = 143
	portSubmissions = 465
	portSubmission  = 587
)

// maxAddress bounds the address parameter (RFC 5321 §4.5.3.1: 64 + 1 + 255).
const maxAddress = 320

// tbConfig is Thunderbird's autoconfig file, clientConfig version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type tbConfig struct {
	XMLName  xml.Name   `xml:"clientConfig"`
	Version  string     `xml:"version,attr"`
	Provider tbProvider `xml:"emailProvider"`
}

type tbProvider struct {
	ID       string     `xml:"id,attr"`
	Domain   []string   `xml:"domain"`
	Display  string     `xml:"displayName"`
	Short    string     `xml:"displayShortName"`
	Incoming []tbServer `xml:"incomingServer"`
	Outgoing []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"` // SSL, STARTTLS or plain
	Username string `xml:"username"`
	Auth     string `xml:"authentication"`
}

// autoconfig serves Thunderbird's file at autoconfig.DOMAIN/mail/config-v1.1.xml
// and DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml. The domain is
// that of the emailaddress parameter if given, else the host's.
func (h *handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(clientOf(r).host, "autoconfig.")
	if q := r.URL.Query().Get("emailaddress"); q != "" {
		a, ok := parseAddress(w, q)
		if !ok {
			return
		}
		name = a.Domain.ASCII
	}
	d, ok := h.domain(w, r, name)
	if !ok {
		return
	}
	host := h.opt.Hostname.ASCII
	server := func(typ string, port int, socket string) tbServer {
		return tbServer{Type: typ, Hostname: host, Port: port, Socket: socket,
			Username: "%EMAILADDRESS%", Auth: "password-cleartext"}
	}
	c := tbConfig{Version: "1.1", Provider: tbProvider{
		ID: d.ASCII, Domain: []string{d.ASCII}, Display: d.String() + " mail", Short: d.String(),
		Incoming: []tbServer{server("imap", portIMAPS, "SSL"), server("imap", portIMAP, "STARTTLS")},
		Outgoing: []tbServer{server("smtp", portSubmissions, "SSL"), server("smtp", portSubmission, "STARTTLS")},
	}}
	writeXML(w, "application/xml; charset=utf-8", c)
}

// parseAddress parses an address parameter, answering 400 if it is not one.
func parseAddress(w http.ResponseWriter, s string) (addr.Address, bool) {
	s = strings.TrimSpace(s)
	if len(s) > maxAddress {
		http.Error(w, "address too long", http.StatusBadRequest)
		return addr.Address{}, false
	}
	a, err := addr.ParseAddress(s)
	if err != nil {
		http.Error(w, "not an email address", http.StatusBadRequest)
		return addr.Address{}, false
	}
	return a, true
}

// writeXML writes v, marshalled with escaping by encoding/xml, after the
// XML declaration.
func writeXML(w http.ResponseWriter, contentType string, v any) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(xml.Header))
	w.Write(out)
	w.Write([]byte("\n"))
}
