package httpserver

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/posthorn/posthorn/internal/addr"
)

// Outlook's Autodiscover "POX" protocol ([MS-OXDSCLI]): the client POSTs
// a request naming the address and gets the IMAP and SMTP settings back,
// in the responseschema/2006 envelope with an outlook/2006a Response.

// adRequest is the request body; namespaces are not checked.
type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Email   string   `xml:"Request>EMailAddress"`
	Schema  string   `xml:"Request>AcceptableResponseSchema"`
}

type adResponse struct {
	XMLName  xml.Name  `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response adOutlook `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

type adOutlook struct {
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocols   []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption,omitempty"` // "TLS" for STARTTLS
	AuthRequired   string `xml:"AuthRequired"`
}

// autodiscover answers POST with the request XML, and GET with the address
// in the email or emailaddress parameter.
func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	var email string
	switch r.Method {
	case http.MethodPost:
		var req adRequest
		err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		case err != nil && !errors.Is(err, io.EOF):
			http.Error(w, "malformed Autodiscover request", http.StatusBadRequest)
			return
		}
		email = req.Email
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		email = q.Get("email")
		if email == "" {
			email = q.Get("emailaddress")
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if email == "" {
		http.Error(w, "no email address in the request", http.StatusBadRequest)
		return
	}
	a, ok := parseAddress(w, email)
	if !ok {
		return
	}
	if _, ok := h.domain(w, r, a.Domain.ASCII); !ok {
		return
	}
	writeXML(w, "application/xml; charset=utf-8", h.autodiscoverResponse(a))
}

func (h *handler) autodiscoverResponse(a addr.Address) adResponse {
	login := a.ASCIIString()
	proto := func(typ string, port int, ssl, enc string) adProtocol {
		return adProtocol{Type: typ, Server: h.opt.Hostname.ASCII, Port: port, DomainRequired: "off",
			LoginName: login, SPA: "off", SSL: ssl, Encryption: enc, AuthRequired: "on"}
	}
	return adResponse{Response: adOutlook{Account: adAccount{
		AccountType: "email", Action: "settings",
		Protocols: []adProtocol{
			proto("IMAP", portIMAPS, "on", ""),
			proto("SMTP", portSubmissions, "on", ""),
			proto("SMTP", portSubmission, "on", "TLS"),
		},
	}}}
}
