// Package msgauth is the message-authentication service: it runs the policy
// packages (iprev, spf, dkim, arc, dmarc) on one message over one shared
// dns.Resolver, decides what to do with it (deliver, file as junk, reject,
// defer), composes the Authentication-Results (RFC 8601) and Received-SPF
// (RFC 7208 §9.1) fields, removes Authentication-Results fields forged with
// our authserv-id, signs submitted mail of local domains with their DKIM
// keys, and records what DMARC aggregate reports need.
//
// Checker is the analysis, shared by the SMTP server (through Hook, a
// delivery.Hook) and the "posthorn check" commands, so the commands give
// the verdicts the server applies. docs/authentication.md explains the
// policy.
package msgauth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/iprev"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/spf"
	"github.com/posthorn/posthorn/internal/store"
)

// Action is what is done with a checked message.
type Action string

// Actions.
const (
	Deliver Action = "deliver" // to the recipients' INBOX (or as Sieve says)
	Junk    Action = "junk"    // to the Junk mailbox
	Reject  Action = "reject"  // 550 5.7.1 at the end of DATA
	Defer   Action = "defer"   // 451 4.4.3: try again later
)

// DefaultTimeout bounds all the DNS work of one Check.
const DefaultTimeout = 30 * time.Second

// Options configure a Checker.
type Options struct {
	// Resolver answers every lookup; required.
	Resolver dns.Resolver
	// Hostname is our host name: the receiver in Received-SPF.
	Hostname addr.Domain
	// AuthServID names us in Authentication-Results (RFC 8601 §2.5);
	// Hostname's ASCII form when empty.
	AuthServID string
	// TrustedARCSealers are the ARC sealers (d= of the latest ARC-Seal)
	// whose recorded dmarc=pass overrides a local DMARC failure (RFC 8617
	// §7.2).
	TrustedARCSealers []addr.Domain
	// DMARCReject is what p=reject does: Reject (the default) or Junk.
	DMARCReject Action
	// DMARCTempError is what a DMARC temperror does when the policy that
	// might apply is not p=none: Defer (the default) or Deliver.
	DMARCTempError Action
	// Enforce applies DMARC policies; when false, results are only
	// recorded in the header (posthorn localserve).
	Enforce bool
	// Timeout bounds the DNS work of one message; DefaultTimeout when 0.
	Timeout time.Duration
	// Reports receives one DMARC aggregate-report record per message for
	// which a DMARC policy was found; nil: none kept.
	Reports ReportSink
	Logger  *slog.Logger
	Now     func() time.Time
}

// Checker runs the checks. It is safe for concurrent use.
type Checker struct {
	opt      Options
	keySizes *dkim.KeySizes // shared by every message's DKIM verifier
}

// NewChecker returns a Checker; zero options take their defaults.
func NewChecker(opt Options) *Checker {
	if opt.AuthServID == "" {
		opt.AuthServID = opt.Hostname.ASCII
	}
	if opt.DMARCReject == "" {
		opt.DMARCReject = Reject
	}
	if opt.DMARCTempError == "" {
		opt.DMARCTempError = Defer
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Checker{opt: opt, keySizes: &dkim.KeySizes{}}
}

// AuthServID returns the authserv-id the Checker writes.
func (c *Checker) AuthServID() string { return c.opt.AuthServID }

// Input is one message and its SMTP context.
type Input struct {
	IP       netip.Addr
	HELO     string
	MailFrom addr.Address // zero: the null sender
	// Local skips the checks of the client (iprev, SPF): it is on this
	// machine (loopback, or LMTP from a local MTA without a real client
	// address), so its address says nothing about the sender.
	Local   bool
	Message delivery.Message
}

// Result holds every check's outcome and the decision.
type Result struct {
	Local bool
	IPRev *iprev.Verdict // nil when not checked
	SPF   *spf.Verdict   // MAIL FROM (or HELO for the null sender); nil when not checked
	HELO  *spf.Verdict   // the HELO identity, when MAIL FROM is not null
	DKIM  []dkim.Result
	ARC   arc.Result
	DMARC dmarc.Verdict
	// Override is set when a trusted ARC sealer's dmarc=pass overrode a
	// local DMARC failure: why, in words.
	Override string
	Action   Action
	// Reason says why Action, in plain words (for the reply and the log).
	Reason string
	// Refused is set when the message is rejected because its From field
	// names no single author (none, several From fields, an address
	// without a domain): DMARC could not be evaluated.
	Refused bool
}

// Check runs every check on in.Message and decides. The error is for an
// unreadable message only; DNS trouble shows in the results.
func (c *Checker) Check(ctx context.Context, in Input) (*Result, error) {
	return c.check(ctx, in, nil)
}

// check is Check; h is in.Message's header when the caller has read it
// already, else nil.
func (c *Checker) check(ctx context.Context, in Input, h *message.Header) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	if h == nil {
		rh, err := message.ReadHeader(bufio.NewReader(delivery.Reader(in.Message)))
		if err != nil {
			return nil, fmt.Errorf("msgauth: reading header: %w", err)
		}
		h = &rh
	}
	res := &Result{Local: in.Local}
	r := c.opt.Resolver
	var wg sync.WaitGroup
	var dkimErr, arcErr error
	if !in.Local && in.IP.IsValid() {
		wg.Go(func() {
			if v, err := iprev.Verify(ctx, r, in.IP); err == nil {
				res.IPRev = &v
			}
		})
		wg.Go(func() {
			a := spf.Args{IP: in.IP, HELO: in.HELO, MailFrom: in.MailFrom, LocalHostname: c.opt.Hostname.ASCII, Now: c.opt.Now}
			if v, err := spf.Verify(ctx, r, a); err == nil {
				res.SPF = &v
			}
			if !in.MailFrom.IsZero() {
				if v, err := spf.VerifyHELO(ctx, r, a); err == nil && v.Result != spf.None {
					res.HELO = &v
				}
			}
		})
	}
	// DKIM and ARC split the header the same way: read it once for both.
	dh, err := dkim.ReadHeader(bufio.NewReader(delivery.Reader(in.Message)))
	if err != nil {
		wg.Wait()
		return nil, fmt.Errorf("msgauth: DKIM: %w", err)
	}
	wg.Go(func() {
		v := &dkim.Verifier{Resolver: r, Now: c.opt.Now, Sizes: c.keySizes}
		res.DKIM, dkimErr = v.VerifyHeader(ctx, dh, bodyOf(in.Message, dh))
	})
	av := &arc.Verifier{Resolver: r, Now: c.opt.Now}
	if hasARC(dh) {
		wg.Go(func() { res.ARC, arcErr = av.VerifyHeader(ctx, dh, bodyOf(in.Message, dh)) })
	} else {
		// No ARC fields: the result is none, without DNS or the body.
		res.ARC, arcErr = av.VerifyHeader(ctx, dh, nil)
	}
	wg.Wait()
	if dkimErr != nil {
		return nil, fmt.Errorf("msgauth: DKIM: %w", dkimErr)
	}
	if arcErr != nil {
		return nil, fmt.Errorf("msgauth: ARC: %w", arcErr)
	}
	if authors, err := authorDomains(*h); err != nil {
		// No single From field with author domains: DMARC cannot be
		// evaluated, and delivering would let such a message skip every
		// policy, so it is refused (RFC 7489 §6.6.1 lets receivers
		// reject; RFC 5322 §3.6 allows exactly one From field).
		res.DMARC = dmarc.Verdict{Result: dmarc.ResultPermError, Disposition: dmarc.DispositionNone, Reason: err.Error()}
		res.Action, res.Reason, res.Refused = Reject, err.Error(), true
	} else {
		res.DMARC = c.dmarc(ctx, in, authors, res)
		c.decide(res)
	}
	if c.opt.Reports != nil && res.DMARC.Policy != nil {
		rec := store.DMARCRecord{Time: c.opt.Now(), Record: res.DMARC.Record}
		if res.Override != "" {
			rec.Override, rec.Comment = "trusted_forwarder", res.Override
		}
		if err := c.opt.Reports.AddDMARCRecord(ctx, rec); err != nil {
			c.opt.Logger.Warn("recording DMARC report data", "err", err)
		}
	}
	return res, nil
}

// bodyOf returns the part of m after the header section h.
func bodyOf(m delivery.Message, h *dkim.Header) io.Reader {
	off := int64(len(h.Raw))
	return io.NewSectionReader(m, off, m.Size()-off)
}

// hasARC reports whether h has a field whose name starts with "ARC-"
// (RFC 8617 §4.1), that is, whether ARC verification has anything to do.
func hasARC(h *dkim.Header) bool {
	for _, f := range h.Fields {
		if len(f.Name) >= 4 && strings.EqualFold(f.Name[:4], "ARC-") {
			return true
		}
	}
	return false
}

// dmarc evaluates DMARC for the author domains with the SPF and DKIM
// results.
func (c *Checker) dmarc(ctx context.Context, in Input, from []addr.Domain, res *Result) dmarc.Verdict {
	din := dmarc.Input{From: from, DKIM: res.DKIM, SourceIP: in.IP, EnvelopeFrom: in.MailFrom.Domain, SPF: "none"}
	if res.SPF != nil {
		din.SPF = dmarc.SPFResult(res.SPF.Result)
		// RFC 7489 §3.1.2: the MAIL FROM domain, or the HELO name for the
		// null sender.
		if d, err := addr.ParseDomain(res.SPF.Domain); err == nil {
			din.SPFDomain = d
		}
	}
	e := &dmarc.Evaluator{Resolver: c.opt.Resolver}
	return e.Evaluate(ctx, din)
}

// authorDomains returns the domain of every address of the one From field
// (RFC 7489 §6.6.1), or why there is no such list: see
// message.Header.Authors, plus an invalid domain and more distinct
// domains than dmarc.MaxAuthorDomains.
func authorDomains(h message.Header) ([]addr.Domain, error) {
	as, err := h.Authors()
	if err != nil {
		return nil, err
	}
	out := make([]addr.Domain, 0, len(as))
	for _, a := range as {
		d, err := addr.ParseDomain(a.Host)
		if err != nil {
			return nil, &message.AuthorError{Reason: fmt.Sprintf("the From address %s@%s has an invalid domain", clip(a.Mailbox, 64), clip(a.Host, 255))}
		}
		out = append(out, d)
	}
	if _, err := dmarc.AuthorDomains(out); err != nil {
		return nil, &message.AuthorError{Reason: err.Error()}
	}
	return out, nil
}

// FromDomains returns the domain of every address of the From fields.
func FromDomains(h message.Header) []addr.Domain {
	var out []addr.Domain
	for _, f := range h.Values("From") {
		for _, ea := range message.ParseAddressList(f) {
			if ea.Host == "" || ea.Host == message.MissingDomain {
				continue
			}
			d, err := addr.ParseDomain(ea.Host)
			if err != nil {
				// Still one From domain for DMARC's count, but unusable:
				// an empty domain gives permerror.
				d = addr.Domain{}
			}
			out = append(out, d)
		}
	}
	return out
}

// decide sets Action and Reason from the DMARC verdict (RFC 7489 §6.6.2,
// §6.7; DMARCbis §5.3.2), after the ARC override (RFC 8617 §7.2).
func (c *Checker) decide(res *Result) {
	v := &res.DMARC
	res.Action, res.Reason = Deliver, v.Reason
	if len(v.Notes) > 0 {
		defer func() { res.Reason += "; " + strings.Join(v.Notes, "; ") }()
	}
	switch v.Result {
	case dmarc.ResultFail:
		if v.Disposition == dmarc.DispositionNone {
			return
		}
		if id, r, ok := arc.TrustedOverride(res.ARC, c.opt.TrustedARCSealers); ok && r == "pass" {
			sealer := res.ARC.Sets[res.ARC.Instances-1].SealDomain
			res.Override = fmt.Sprintf("policy %s not applied: the ARC chain is intact and its latest sealer %s (%s), which this server trusts, recorded dmarc=pass before forwarding", v.Disposition, sealer, id)
			res.Reason = v.Reason + "; " + res.Override
			v.Record.Disposition = dmarc.DispositionNone
			return
		}
		if !c.opt.Enforce {
			res.Reason += "; not enforced here"
			return
		}
		res.Action = Junk
		if v.Disposition == dmarc.DispositionReject {
			res.Action = c.opt.DMARCReject
		}
	case dmarc.ResultTempError:
		// RFC 7489 §6.6.2 and DMARCbis §5.3.2 leave temporary failures to
		// the receiver. Deferring lets the sender retry while its DNS
		// recovers, rather than delivering mail the owner may have asked
		// to reject; a known p=none cannot ask for anything, so such mail
		// is delivered.
		if !c.opt.Enforce || c.opt.DMARCTempError != Defer || (v.Policy != nil && policyIsNone(v.Policy)) {
			return
		}
		res.Action = Defer
	}
}

// policyIsNone reports whether no tag of p asks for more than none.
func policyIsNone(p *dmarc.Policy) bool {
	if p.Testing {
		return true
	}
	for _, d := range []dmarc.Disposition{p.P, p.SP, p.NP} {
		if d != "" && d != dmarc.DispositionNone {
			return false
		}
	}
	return true
}

// Summary is the one-line description of a result for the log.
func (r *Result) Summary() string {
	var parts []string
	if r.IPRev != nil {
		parts = append(parts, "iprev="+string(r.IPRev.Result))
	}
	if r.SPF != nil {
		parts = append(parts, "spf="+string(r.SPF.Result))
	}
	dk := "none"
	if len(r.DKIM) > 0 {
		var ss []string
		for _, d := range r.DKIM {
			ss = append(ss, string(d.Status))
		}
		dk = strings.Join(ss, ",")
	}
	parts = append(parts, "dkim="+dk, "arc="+string(r.ARC.Chain), "dmarc="+string(r.DMARC.Result))
	return strings.Join(parts, " ")
}
