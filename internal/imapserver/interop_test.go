package imapserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestInteropImapclient drives the server with go-imap v2's client:
// login, select, fetch, store, move, append, idle.
func TestInteropImapclient(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	e.deliver("", mimeMsg, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(l)
	t.Cleanup(func() { l.Close() })

	exists := make(chan uint32, 10)
	c, err := imapclient.DialInsecure(l.Addr().String(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapMove) {
		t.Fatalf("caps: %v", c.Caps())
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDNext != 3 {
		t.Fatalf("select: %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
		ModSeq:      true,
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Envelope.Subject != "Hello" || msgs[1].Envelope.From[0].Name != "Jörg" {
		t.Fatalf("fetch: %+v", msgs)
	}
	if mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart); !ok || len(mp.Children) != 2 || mp.Subtype != "mixed" {
		t.Fatalf("bodystructure: %#v", msgs[1].BodyStructure)
	}
	if len(msgs[0].BodySection) != 1 || !strings.Contains(string(msgs[0].BodySection[0].Bytes), "Subject: Hello") {
		t.Fatalf("header: %+v", msgs[0].BodySection)
	}
	if msgs[0].ModSeq == 0 {
		t.Fatal("no MODSEQ")
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	mv, err := c.Move(imap.UIDSetNum(2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if mv == nil || mv.DestUIDs.String() != "1" {
		t.Fatalf("move: %+v", mv)
	}
	msg := "Subject: via imapclient\r\n\r\nhello\r\n"
	ap := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	ap.Write([]byte(msg))
	if err := ap.Close(); err != nil {
		t.Fatal(err)
	}
	ad, err := ap.Wait()
	if err != nil || ad.UID != 3 {
		t.Fatalf("append: %+v %v", ad, err)
	}
	drain(exists)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	e.deliver("", simpleMsg, 0)
	select {
	case n := <-exists:
		if n != 3 {
			t.Errorf("EXISTS %d, want 3", n)
		}
	case <-time.After(time.Minute): // IDLE does not poll: a lost notification, not slowness
		t.Error("IDLE: no EXISTS within a minute")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(got) != 1 || !hasFlag(got[0].Flags, imap.FlagFlagged) {
		t.Fatalf("flags after store: %+v %v", got, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func drain(c chan uint32) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}
