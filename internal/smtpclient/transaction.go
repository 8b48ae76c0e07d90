package smtpclient

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/smtp"
)

func tlsVersion(v uint16) string { return tls.VersionName(v) }
func tlsCipher(s uint16) string  { return tls.CipherSuiteName(s) }

// transact runs one mail transaction on cn for the pending recipients
// (RFC 5321 §3.3), pipelined when the server offers PIPELINING
// (RFC 2920), with BDAT when it offers CHUNKING (RFC 3030).
func (c *Client) transact(d *delivery, cn *conn) {
	m := d.m
	d.res.MX, d.res.TLS, d.res.DSN = cn.name(), cn.tlsInfo(), cn.has("DSN")
	if f := c.capabilities(d, cn); f != nil {
		d.hostFailed(*f, nil, failCapability)
		return
	}
	body, size, err := d.body(cn)
	if err != nil {
		d.hostFailed(RecipientResult{Code: 554, Enhanced: "5.6.3", Text: fmt.Sprintf(
			"The message has 8-bit content, %s does not accept 8BITMIME, and it cannot be converted to 7 bits (%v)", cn.name(), err)}, err, failCapability)
		return
	}
	idx := slices.Clone(d.pending)
	pipe := cn.has("PIPELINING")
	bdat := cn.has("CHUNKING")
	to := cn.to

	cn.cmd("MAIL FROM:<%s>%s", m.From, c.mailParams(d, cn))
	var mailR reply
	if !pipe {
		if mailR, err = cn.flushRead(to.Command); err != nil || !mailR.ok() {
			d.mailFailed(mailR, err)
			return
		}
	}
	rcptR := make([]reply, len(idx))
	for k, i := range idx {
		cn.cmd("RCPT TO:<%s>%s", m.Recipients[i].Address, rcptParams(m.Recipients[i], cn))
		if !pipe {
			if rcptR[k], err = cn.flushRead(to.Command); err != nil {
				d.hostFailed(connFail(cn, err), err, failTemp)
				return
			}
		}
	}
	var dataR reply
	if pipe {
		// RFC 2920 §3.1: DATA may end the pipelined group.
		if !bdat {
			cn.cmd("DATA")
		}
		if err := cn.flush(to.Command); err != nil {
			d.hostFailed(connFail(cn, err), err, failTemp)
			return
		}
		replies := 1 + len(idx)
		if !bdat {
			replies++
		}
		got := make([]reply, 0, replies)
		for range replies {
			r, err := cn.readReply(to.Command)
			if err != nil {
				d.hostFailed(connFail(cn, err), err, failTemp)
				return
			}
			got = append(got, r)
		}
		mailR = got[0]
		copy(rcptR, got[1:1+len(idx)])
		if !bdat {
			dataR = got[len(got)-1]
		}
		if !mailR.ok() {
			if dataR.Code == 354 {
				cn.cmd(".")
				cn.flushRead(to.DataEnd)
			}
			d.mailFailed(mailR, nil)
			return
		}
	}
	var accepted []int
	for k, i := range idx {
		rr := fromReply(rcptR[k])
		if rr.Delivered {
			accepted = append(accepted, i)
			continue
		}
		d.set(i, rr)
	}
	if len(accepted) == 0 {
		if dataR.Code == 354 {
			// RFC 2920 §3.1: a 354 without recipients gets an empty message.
			cn.cmd(".")
			cn.flushRead(to.DataEnd)
		}
		return
	}
	var final reply
	if bdat {
		final, err = cn.writeBDAT(body, size)
	} else {
		if !pipe {
			dataR, err = cn.flushWith(to.DataInit, "DATA")
			if err != nil {
				d.hostFailed(connFail(cn, err), err, failTemp)
				return
			}
		}
		if dataR.Code != 354 {
			for _, i := range accepted {
				d.set(i, fromReply(dataR))
			}
			if !dataR.permanent() {
				d.sawTemp = true
			}
			return
		}
		if err = cn.writeData(body, size); err == nil {
			final, err = cn.readReply(to.DataEnd)
		}
	}
	if err != nil {
		d.hostFailed(connFail(cn, err), err, failTemp)
		return
	}
	if !final.ok() && !final.permanent() {
		d.sawTemp = true
	}
	for _, i := range accepted {
		d.set(i, fromReply(final))
	}
}

func (cn *conn) flushRead(timeout time.Duration) (reply, error) {
	if err := cn.flush(timeout); err != nil {
		return reply{}, err
	}
	return cn.readReply(timeout)
}

func (cn *conn) flushWith(timeout time.Duration, cmd string) (reply, error) {
	cn.cmd("%s", cmd)
	return cn.flushRead(timeout)
}

func connFail(cn *conn, err error) RecipientResult {
	return RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("The connection to %s failed during the transaction (%v)", cn.name(), err)}
}

// mailFailed records a refused MAIL FROM (or a connection failure then).
func (d *delivery) mailFailed(r reply, err error) {
	if err != nil || r.Code == 0 {
		d.hostFailed(RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("The connection failed at MAIL FROM (%v)", err)}, err, failTemp)
		return
	}
	rr := fromReply(r)
	if !rr.Permanent {
		d.sawTemp = true
	}
	for _, i := range slices.Clone(d.pending) {
		d.set(i, rr)
	}
}

// capabilities checks what the message needs from the server.
func (c *Client) capabilities(d *delivery, cn *conn) *RecipientResult {
	m := d.m
	switch {
	case m.SMTPUTF8 && !cn.has("SMTPUTF8"):
		// RFC 6531 §3.2: no downgrade exists for internationalized addresses.
		return &RecipientResult{Code: 553, Enhanced: "5.6.7", Text: fmt.Sprintf(
			"The receiving server %s does not support SMTPUTF8, which this message needs for its non-ASCII addresses or header fields", cn.name())}
	case m.RequireTLS && !(cn.requireTLSOK && cn.has("REQUIRETLS")):
		// RFC 8689 §4.1: verified TLS (DANE or MTA-STS) and REQUIRETLS at
		// every hop, else no delivery.
		var why string
		switch {
		case cn.tls == nil:
			why = "it does not offer STARTTLS (the connection was not encrypted)"
		case cn.requireTLSOK:
			why = "it does not offer REQUIRETLS"
		case cn.policy != "dane" && cn.policy != "mta-sts":
			why = "its domain publishes neither DANE TLSA records nor an MTA-STS policy, so its certificate cannot be authenticated"
		default:
			why = "its TLS certificate could not be verified through " + cn.policy
		}
		return &RecipientResult{Code: 550, Enhanced: "5.7.30", Text: fmt.Sprintf(
			"The sender required TLS for this message (REQUIRETLS), and %s cannot guarantee it: %s", cn.name(), why)}
	}
	if lim, err := strconv.ParseInt(cn.ext["SIZE"], 10, 64); err == nil && lim > 0 && m.Size > lim {
		return &RecipientResult{Code: 552, Enhanced: "5.3.4", Text: fmt.Sprintf(
			"The message (%d bytes) is larger than %s accepts (%d bytes)", m.Size, cn.name(), lim)}
	}
	return nil
}

// mailParams returns the MAIL FROM parameters (with a leading space).
func (c *Client) mailParams(d *delivery, cn *conn) string {
	m := d.m
	var b strings.Builder
	if cn.has("SIZE") {
		fmt.Fprintf(&b, " SIZE=%d", m.Size)
	}
	if m.Body8Bit && cn.has("8BITMIME") {
		b.WriteString(" BODY=8BITMIME")
	}
	if m.SMTPUTF8 {
		b.WriteString(" SMTPUTF8")
	}
	if m.RequireTLS {
		b.WriteString(" REQUIRETLS")
	}
	if cn.has("DSN") {
		if m.Ret != "" {
			b.WriteString(" RET=" + strings.ToUpper(m.Ret))
		}
		if m.EnvID != "" {
			b.WriteString(" ENVID=" + smtp.EncodeXtext(m.EnvID))
		}
	}
	return b.String()
}

// rcptParams returns the RCPT TO DSN parameters (RFC 3461 §4.1, §4.2).
func rcptParams(r Recipient, cn *conn) string {
	if !cn.has("DSN") {
		return ""
	}
	var b strings.Builder
	if r.Notify != "" {
		b.WriteString(" NOTIFY=" + strings.ToUpper(r.Notify))
	}
	if typ, v, ok := strings.Cut(r.ORcpt, ";"); ok && typ != "" {
		b.WriteString(" ORCPT=" + typ + ";" + smtp.EncodeXtext(v))
	}
	return b.String()
}
