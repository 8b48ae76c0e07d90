package smtpserver

import (
	"strings"
	"testing"
)

const remoteIP = "192.0.2.10"

const simpleMsg = "From: Sender <sender@remote.example>\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nHello\r\n..leading dot\r\n"

func TestMXDeliver(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeMX, remoteIP)
	ehlo := c.greet()
	for _, capa := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "BINARYMIME", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "SIZE 1048576"} {
		if !strings.Contains(ehlo, capa) {
			t.Errorf("EHLO lacks %s:\n%s", capa, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") || strings.Contains(ehlo, "REQUIRETLS") || strings.Contains(ehlo, "XCLIENT") {
		t.Errorf("EHLO offers AUTH, REQUIRETLS or XCLIENT on plaintext MX:\n%s", ehlo)
	}
	c.cmd("MAIL FROM:<sender@remote.example> SIZE=100", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("DATA", "354")
	c.send(simpleMsg + ".\r\n")
	c.expect("250 2.0.0 Ok: stored as ")
	c.cmd("QUIT", "221")
	msgs := e.inbox("alice@example.org")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	body := strings.Replace(simpleMsg, "\r\n..leading", "\r\n.leading", 1)
	if !strings.HasSuffix(msgs[0], "\r\n"+body) || !strings.HasPrefix(msgs[0], "Received: from client.example ([192.0.2.10])\r\n\tby mx.example.org (posthorn) with ESMTP id ") {
		t.Errorf("stored message:\n%q", msgs[0])
	}
	if !strings.Contains(e.logs.String(), "message delivered") {
		t.Errorf("no delivery log line")
	}
}
