package smtpclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/message"
)

// delivery tracks one Deliver call: the recipients still undecided and
// their latest results.
type delivery struct {
	m       Message
	res     Result
	pending []int // indexes into m.Recipients, undecided
	// sawTemp: a reached host failed for a reason other than a missing
	// capability, so capability failures stay temporary. Hosts that could
	// not be reached do not count.
	sawTemp, capFail bool

	downgraded []byte // the 7-bit form, made on first need
	dgErr      error
}

func (c *Client) newDelivery(m Message) *delivery {
	d := &delivery{m: m, res: Result{PerRecipient: make([]RecipientResult, len(m.Recipients))}}
	for i, r := range m.Recipients {
		d.res.PerRecipient[i].Address = r.Address
		typ, _, _ := strings.Cut(r.ORcpt, ";")
		if !safeParam(r.Address) || r.Address == "" || !safeParam(r.Notify) || !safeParam(typ) {
			d.res.PerRecipient[i] = RecipientResult{Address: r.Address, Code: 553, Enhanced: "5.1.3", Permanent: true,
				Text: "The recipient address or its DSN parameters are malformed"}
			continue
		}
		if !safeParam(m.From) || !safeParam(m.Ret) {
			d.res.PerRecipient[i] = RecipientResult{Address: r.Address, Code: 553, Enhanced: "5.1.7", Permanent: true,
				Text: "The sender address or its DSN parameters are malformed"}
			continue
		}
		d.pending = append(d.pending, i)
	}
	return d
}

// safeParam rejects what could break a command line.
func safeParam(s string) bool {
	return !strings.ContainsAny(s, "\r\n<> \t\x00")
}

func (d *delivery) done() bool { return len(d.pending) == 0 }

// set records the result of recipient i; a final result removes it from
// pending.
func (d *delivery) set(i int, r RecipientResult) {
	r.Address = d.m.Recipients[i].Address
	d.res.PerRecipient[i] = r
	if r.Delivered || r.Permanent {
		d.pending = slices.DeleteFunc(d.pending, func(j int) bool { return j == i })
	}
}

// failAll gives every pending recipient r.
func (d *delivery) failAll(r RecipientResult, permanent bool) {
	r.Permanent = permanent
	for _, i := range slices.Clone(d.pending) {
		d.set(i, r)
	}
}

// failKind classifies a host failure.
type failKind int

const (
	failTemp       failKind = iota // a reached host failed temporarily, or a policy failed
	failUnreached                  // no SMTP session: DNS, connect, greeting
	failCapability                 // the host lacks what the message needs
)

// hostFailed records a failure of one host for the pending recipients,
// keeping a remote server's earlier answer over a local reason.
func (d *delivery) hostFailed(r RecipientResult, err error, kind failKind) {
	capability := kind == failCapability
	switch kind {
	case failCapability:
		d.capFail = true
	case failTemp:
		d.sawTemp = true
	}
	if err != nil {
		d.res.Err = err
	} else {
		d.res.Err = fmt.Errorf("smtpclient: %d %s %s", r.Code, r.Enhanced, r.Text)
	}
	r.Permanent = false
	for _, i := range d.pending {
		if old := d.res.PerRecipient[i]; old.Remote && !r.Remote && !capability {
			continue
		}
		d.set(i, r)
	}
}

// finish settles the recipients still pending: permanent when every host
// lacked a capability the message needs (SMTPUTF8, REQUIRETLS, 8-bit
// conversion, size), else temporary with a 4xx code.
func (d *delivery) finish(ctx context.Context) Result {
	for _, i := range slices.Clone(d.pending) {
		r := d.res.PerRecipient[i]
		switch {
		case r.Code == 0 && ctx.Err() != nil:
			r = RecipientResult{Code: 451, Enhanced: "4.4.7", Text: fmt.Sprintf("Delivery attempt interrupted (%v)", ctx.Err())}
		case r.Code == 0:
			r = RecipientResult{Code: 451, Enhanced: "4.4.1", Text: "No mail server of the domain could be reached"}
		case d.capFail && !d.sawTemp && r.Code/100 == 5:
			r.Permanent = true
		case r.Code/100 == 5:
			r.Code -= 100
			if r.Enhanced != "" {
				r.Enhanced = "4" + r.Enhanced[1:]
			}
		}
		d.set(i, r)
	}
	return d.res
}

// body returns what to send to cn: the message as is, or its 7-bit
// downgrade when the message is 8-bit and cn lacks 8BITMIME.
func (d *delivery) body(cn *conn) (io.ReaderAt, int64, error) {
	if !d.m.Body8Bit || cn.has("8BITMIME") {
		return d.m.Body, d.m.Size, nil
	}
	if d.downgraded == nil && d.dgErr == nil {
		raw := make([]byte, d.m.Size)
		if _, err := d.m.Body.ReadAt(raw, 0); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("smtpclient: reading message: %w", err)
		}
		d.downgraded, d.dgErr = message.To7Bit(raw)
	}
	if d.dgErr != nil {
		return nil, 0, d.dgErr
	}
	return bytes.NewReader(d.downgraded), int64(len(d.downgraded)), nil
}

// fromReply turns a reply into a recipient result.
func fromReply(r reply) RecipientResult {
	return RecipientResult{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text(), Permanent: r.permanent(), Delivered: r.ok(), Remote: true}
}
